"""Provider idempotency keys, derived from our own ids.

A provider acts at most once per key (Stripe keeps keys 24 h): retrying with the same key
replays the first outcome instead of charging twice. So a key must be the same on every
try, after a crash and in the reconciler, which a random value per try is not. The key is
derived from the id of OUR row that records the call, and stored with it before the first
try (the row, not the key, is the source of truth: `derive_idempotency_key` is pure).
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import NewType

IdempotencyKey = NewType("IdempotencyKey", str)
_OBJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class ProviderOperation(StrEnum):
    CREATE = "create_payment"
    CONFIRM = "confirm_payment"
    CAPTURE = "capture_payment"
    CANCEL = "cancel_payment"
    REFUND = "refund_payment"
    RETRIEVE = "retrieve_payment"
    FIND = "find_payment"


MUTATING_OPERATIONS = frozenset(
    {
        ProviderOperation.CREATE,
        ProviderOperation.CONFIRM,
        ProviderOperation.CAPTURE,
        ProviderOperation.CANCEL,
        ProviderOperation.REFUND,
    }
)


def derive_idempotency_key(
    operation: ProviderOperation, *, object_id: uuid.UUID | str
) -> IdempotencyKey:
    """The provider idempotency key of one mutating call, from the id of OUR row that
    records it (the attempt for create/confirm, the capture, cancellation or refund row).

    Stable: the same operation on the same row always gives the same key, so every retry,
    restart and reconciliation repeats the first request instead of making a new one.
    Store it with the row before the first try.
    """
    if operation not in MUTATING_OPERATIONS:
        raise ValueError(f"{operation} changes nothing: reads carry no idempotency key")
    text = str(object_id)
    if not _OBJECT_ID.fullmatch(text):
        raise ValueError("object_id must be 1-128 characters of [A-Za-z0-9_.-]")
    return IdempotencyKey(f"mercato-{operation.value}-{text}")
