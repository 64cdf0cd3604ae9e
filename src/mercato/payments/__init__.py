"""Payments: payment intents, provider adapters, provider webhooks in, merchant webhooks out.

A service of its own (own process, schema, migrations and outbox); it imports nothing of
the other contexts, only `mercato.platform`.
"""
