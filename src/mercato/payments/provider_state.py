"""Bring an intent to what the provider says about its payment.

One place applies the provider's word, whoever heard it: the answer to our own call, a
webhook (after reading the payment back), the reconciler. The intent is row-locked by the
caller; a status moves only along the transition table, as a compare-and-set, so a stale
answer cannot move a payment backwards and a terminal state never changes. Each move
publishes its event in the same transaction.
"""

from __future__ import annotations

import datetime as dt

import structlog

from mercato.payments.events import (
    IntentAuthorized,
    IntentCanceled,
    IntentFailed,
    IntentRequiresAction,
    IntentSucceeded,
)
from mercato.payments.models import PaymentAttempt, PaymentIntent
from mercato.payments.providers.base import ProviderPayment
from mercato.payments.repository import PaymentsRepository
from mercato.payments.states import AttemptStatus, IntentStatus
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.contracts import EventPayload

logger = structlog.get_logger(__name__)

# What an attempt became when its intent reached a status.
_ATTEMPT_BY_INTENT = {
    IntentStatus.SUCCEEDED: AttemptStatus.SUCCEEDED,
    IntentStatus.REQUIRES_CAPTURE: AttemptStatus.SUCCEEDED,
    IntentStatus.REQUIRES_PAYMENT_METHOD: AttemptStatus.FAILED,
    IntentStatus.REQUIRES_ACTION: AttemptStatus.REQUIRES_ACTION,
    IntentStatus.PROCESSING: AttemptStatus.PROCESSING,
    IntentStatus.CANCELED: AttemptStatus.CANCELED,
}
# How soon the reconciler looks again at a payment the provider is still processing.
PROCESSING_RECHECK = dt.timedelta(seconds=30)


async def apply_payment(
    uow: UnitOfWork,
    payments: PaymentsRepository,
    intent: PaymentIntent,
    payment: ProviderPayment,
    *,
    attempt: PaymentAttempt | None,
) -> bool:
    """Apply the provider's view of `intent`'s payment; True if the status moved.

    `attempt` is the attempt the answer belongs to (None: the intent's active one)."""
    if intent.provider_payment_id is None:
        intent.provider_payment_id = payment.provider_id
    target = IntentStatus(payment.status.value)
    current = IntentStatus(intent.status)
    # Money only ever grows here (refunds are counted by their own rows).
    intent.amount_capturable = min(payment.amount_capturable, intent.amount)
    intent.amount_received = max(
        intent.amount_received, min(payment.amount_captured, intent.amount)
    )
    if target is not current:
        moved = await payments.move(intent, target)
        if not moved:
            logger.info(
                "provider_state_not_applied",
                intent_id=str(intent.id),
                current=current.value,
                provider_status=target.value,
            )
            return False
    intent.next_action_url = payment.action_url if target is IntentStatus.REQUIRES_ACTION else None
    if target is IntentStatus.REQUIRES_PAYMENT_METHOD and payment.failure_code is not None:
        intent.last_failure_code = payment.failure_code[:64]
        intent.last_failure_message = (payment.failure_message or "")[:500] or None
    if target in {IntentStatus.SUCCEEDED, IntentStatus.REQUIRES_CAPTURE}:
        intent.capture_requested = None
    intent.updated_at = utc_now()
    attempt = attempt or await payments.active_attempt(intent.id)
    if attempt is not None:
        resolve_attempt(attempt, target, failure_code=payment.failure_code)
    if target is not current:
        event = _event_for(intent, target)
        if event is not None:
            uow.publish(event, aggregate_id=intent.id)
    return target is not current


def resolve_attempt(
    attempt: PaymentAttempt, intent_status: IntentStatus, *, failure_code: str | None
) -> None:
    """The attempt's status after its intent reached `intent_status`."""
    status = _ATTEMPT_BY_INTENT.get(intent_status)
    if status is None:
        return
    now = utc_now()
    attempt.status = status.value
    attempt.updated_at = now
    if status is AttemptStatus.PROCESSING:
        attempt.next_check_at = now + PROCESSING_RECHECK
    elif status is not AttemptStatus.REQUIRES_ACTION:
        attempt.resolved_at = now
        attempt.next_check_at = None
    if status is AttemptStatus.FAILED:
        attempt.failure_code = (failure_code or "declined")[:64]


def _event_for(intent: PaymentIntent, status: IntentStatus) -> EventPayload | None:
    common = {
        "intent_id": intent.id,
        "order_reference": intent.order_reference,
        "amount": intent.amount,
        "currency": intent.currency,
    }
    match status:
        case IntentStatus.SUCCEEDED:
            return IntentSucceeded(**common, amount_received=intent.amount_received)
        case IntentStatus.REQUIRES_CAPTURE:
            return IntentAuthorized(**common, amount_capturable=intent.amount_capturable)
        case IntentStatus.REQUIRES_ACTION:
            return IntentRequiresAction(**common, action_url=intent.next_action_url)
        case IntentStatus.REQUIRES_PAYMENT_METHOD:
            return IntentFailed(**common, failure_code=intent.last_failure_code)
        case IntentStatus.CANCELED:
            return IntentCanceled(**common, reason=intent.cancellation_reason)
    return None
