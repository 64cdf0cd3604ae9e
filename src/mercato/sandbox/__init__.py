"""The sandbox payment provider: a simulated card processor, a real HTTP service of ours.

Shaped like a card processor's API (docs/sandbox.md): payment methods, payment intents
(create, confirm, capture, cancel, retrieve), refunds, idempotency keys, test cards for every
outcome, signed webhooks retried until acknowledged, and fault knobs. It keeps its own
tables in the PostgreSQL schema `sandbox` and imports nothing of Mercato but
`mercato.platform`: it stands in for someone else's system.
"""
