"""Payments: payment intents, provider adapters, provider webhooks in, merchant webhooks out.

A service of its own (own process, schema, migrations and outbox); it imports nothing of
the other contexts, only `mercato.platform`. What others may use of it is its HTTP API and
the event contracts exported here.
"""

from mercato.payments.events import (
    IntentAuthorized,
    IntentCanceled,
    IntentFailed,
    IntentRequiresAction,
    IntentSucceeded,
    RefundFailed,
    RefundSucceeded,
)

__all__ = [
    "IntentAuthorized",
    "IntentCanceled",
    "IntentFailed",
    "IntentRequiresAction",
    "IntentSucceeded",
    "RefundFailed",
    "RefundSucceeded",
]
