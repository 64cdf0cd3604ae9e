"""The lifecycles of a payment intent, an attempt and a refund: what may follow what.

Pure (no I/O): the use cases apply a transition as a compare-and-set
(`UPDATE … WHERE status IN (allowed predecessors)`), so two writers racing on one intent
cannot both move it, and a terminal state never changes again. The predecessors come from
these tables.

Stripe's PaymentIntent lifecycle: a failed attempt sends the intent back to
`requires_payment_method` (the customer may try another card); an intent itself never
"fails", it is canceled.
"""

from __future__ import annotations

from enum import StrEnum


class IntentStatus(StrEnum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({IntentStatus.SUCCEEDED, IntentStatus.CANCELED})

_S = IntentStatus
# status → the statuses it may move to.
TRANSITIONS: dict[IntentStatus, frozenset[IntentStatus]] = {
    _S.REQUIRES_PAYMENT_METHOD: frozenset({_S.REQUIRES_CONFIRMATION, _S.PROCESSING, _S.CANCELED}),
    _S.REQUIRES_CONFIRMATION: frozenset({_S.PROCESSING, _S.CANCELED}),
    _S.PROCESSING: frozenset(
        {
            _S.REQUIRES_ACTION,
            _S.REQUIRES_CAPTURE,
            _S.SUCCEEDED,
            _S.REQUIRES_PAYMENT_METHOD,  # the attempt failed
            _S.CANCELED,  # canceled at the provider meanwhile (reconciled)
        }
    ),
    _S.REQUIRES_ACTION: frozenset(
        {
            _S.PROCESSING,
            _S.REQUIRES_CAPTURE,
            _S.SUCCEEDED,
            _S.REQUIRES_PAYMENT_METHOD,  # the customer declined, or the action timed out
            _S.CANCELED,
        }
    ),
    _S.REQUIRES_CAPTURE: frozenset({_S.SUCCEEDED, _S.CANCELED}),
    _S.SUCCEEDED: frozenset(),
    _S.CANCELED: frozenset(),
}


def may_move(current: IntentStatus, target: IntentStatus) -> bool:
    """True if `target` may follow `current` (staying put is not a move)."""
    return target in TRANSITIONS[current]


def predecessors(target: IntentStatus) -> frozenset[IntentStatus]:
    """Every status `target` may follow: the `WHERE status IN (…)` of a compare-and-set."""
    return frozenset(status for status, nexts in TRANSITIONS.items() if target in nexts)


# Intents a customer or the order may still cancel (no money has moved for good).
CANCELABLE = predecessors(IntentStatus.CANCELED)
# Intents a confirmation may start on.
CONFIRMABLE = frozenset({IntentStatus.REQUIRES_PAYMENT_METHOD, IntentStatus.REQUIRES_CONFIRMATION})


class AttemptStatus(StrEnum):
    """One try to pay an intent with a payment method."""

    PENDING = "pending"  # stored before the provider call: the recovery point
    PROCESSING = "processing"  # the provider will tell (webhook, or the reconciler asks)
    REQUIRES_ACTION = "requires_action"  # waiting for the customer (3-D Secure)
    UNKNOWN = "unknown"  # the call's outcome is not known: reconcile before anything else
    SUCCEEDED = "succeeded"  # authorised (and captured, with automatic capture)
    FAILED = "failed"  # declined, or refused by the provider
    CANCELED = "canceled"

    @property
    def is_active(self) -> bool:
        """An intent has at most one active attempt (a partial unique index holds it)."""
        return self in ACTIVE_ATTEMPTS


ACTIVE_ATTEMPTS = frozenset(
    {
        AttemptStatus.PENDING,
        AttemptStatus.PROCESSING,
        AttemptStatus.REQUIRES_ACTION,
        AttemptStatus.UNKNOWN,
    }
)
# Attempts the reconciler resolves by asking the provider.
UNRESOLVED_ATTEMPTS = frozenset(
    {AttemptStatus.PENDING, AttemptStatus.PROCESSING, AttemptStatus.UNKNOWN}
)


class RefundStatus(StrEnum):
    PENDING = "pending"  # stored (and its amount held against the capture) before the call
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # its amount is released: it may be refunded again

    @property
    def holds_amount(self) -> bool:
        """Counted against the captured amount (Σ refunds ≤ captured)."""
        return self is not RefundStatus.FAILED


UNRESOLVED_REFUNDS = frozenset({RefundStatus.PENDING, RefundStatus.UNKNOWN})


class DeliveryStatus(StrEnum):
    """A merchant webhook delivery (one event for one endpoint)."""

    PENDING = "pending"  # waiting for its next attempt on the retry schedule
    DELIVERED = "delivered"  # a 2xx came back
    FAILED = "failed"  # the schedule ran out, or a replay failed: replay to try again
    ABANDONED = "abandoned"  # parked when its endpoint was disabled: replayable
