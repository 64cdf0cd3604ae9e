"""The reconciler: settles what we sent to the provider without learning how it ended.

Attempts left `pending` (the process died before recording the answer) or `unknown` (the
answer was lost: a timeout, a reset, a 5xx), refunds likewise, and captures or
cancellations whose answer never came. For each, the provider is asked, on a backoff
schedule, before anything new may happen to the intent:

- an attempt: the payment is read back (found by our reference if we never learnt its id);
  if the provider never saw the confirmation, it is sent again with the attempt's own
  idempotency key (the customer asked to pay; the provider acts at most once per key);
- a refund, a capture, a cancellation: the very same call is repeated with the same key,
  and the provider answers with the first outcome, or acts now, once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import select

from mercato.payments.gateway import PaymentGateway
from mercato.payments.idempotency_keys import (
    IdempotencyKey,
    ProviderOperation,
    derive_idempotency_key,
)
from mercato.payments.models import PaymentAttempt, PaymentIntent, Refund
from mercato.payments.outcomes import Answered, NoEffect, ReadResult, Rejected, Unknown
from mercato.payments.provider_state import apply_payment, publish_for, resolve_attempt
from mercato.payments.providers.base import ProviderPayment, ProviderStatus
from mercato.payments.refunds import apply_refund, fail_refund
from mercato.payments.repository import PaymentsRepository
from mercato.payments.states import UNRESOLVED_ATTEMPTS, UNRESOLVED_REFUNDS, IntentStatus
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork

logger = structlog.get_logger(__name__)

MAX_WAIT = dt.timedelta(minutes=15)
# Checks after which an attempt the provider shows unconfirmed, and whose confirmation keeps
# failing, is given up (the intent may be paid again).
GIVE_UP_AFTER = 3
BATCH = 50


@dataclass(slots=True)
class Report:
    settled: int = 0
    still_unknown: int = 0


def backoff(checks: int, *, first: dt.timedelta) -> dt.timedelta:
    """How long to wait before the next question: doubling from `first`, at most 15 min."""
    wait: dt.timedelta = first * (2 ** min(checks, 16))
    return min(wait, MAX_WAIT)


async def reconcile_due(
    *, gateway: PaymentGateway, new_uow: Callable[[], UnitOfWork], first_wait: dt.timedelta
) -> Report:
    """Ask the provider about everything whose check is due (bounded per run)."""
    report = Report()
    async with new_uow() as uow:
        payments = PaymentsRepository(uow.session)
        now = utc_now()
        attempts = [a.id for a in await payments.attempts_to_check(now=now, limit=BATCH)]
        refunds = [r.id for r in await payments.refunds_to_check(now=now, limit=BATCH)]
        pending_intents = list(
            await uow.session.scalars(
                select(PaymentIntent.id)
                .where(
                    (PaymentIntent.capture_requested.is_not(None))
                    | (PaymentIntent.cancel_requested_at.is_not(None))
                )
                .limit(BATCH)
            )
        )
        await uow.commit()
    for attempt_id in attempts:
        settled = await reconcile_attempt(
            attempt_id, gateway=gateway, uow=new_uow(), first_wait=first_wait
        )
        _count(report, settled)
    for refund_id in refunds:
        settled = await reconcile_refund(
            refund_id, gateway=gateway, uow=new_uow(), first_wait=first_wait
        )
        _count(report, settled)
    for intent_id in pending_intents:
        _count(report, await reconcile_request(intent_id, gateway=gateway, uow=new_uow()))
    if report.settled or report.still_unknown:
        logger.info("reconciled", settled=report.settled, still_unknown=report.still_unknown)
    return report


def _count(report: Report, settled: bool) -> None:
    if settled:
        report.settled += 1
    else:
        report.still_unknown += 1


async def reconcile_attempt(
    attempt_id: uuid.UUID,
    *,
    gateway: PaymentGateway,
    uow: UnitOfWork,
    first_wait: dt.timedelta,
) -> bool:
    """Settle one attempt of unknown outcome; True when it is settled."""
    async with uow:
        attempt = await uow.session.get(PaymentAttempt, attempt_id)
        intent = await uow.session.get(PaymentIntent, attempt.intent_id) if attempt else None
        await uow.commit()
    if attempt is None or intent is None or attempt.status not in UNRESOLVED_ATTEMPTS:
        return True
    found: ReadResult[ProviderPayment] | ReadResult[ProviderPayment | None]
    if intent.provider_payment_id is not None:
        found = await gateway.retrieve_payment(intent.provider_payment_id)
    else:
        found = await gateway.find_payment(str(intent.id))
    if not isinstance(found, Answered):
        return await _later(uow, attempt_id=attempt_id, first_wait=first_wait)
    payment: ProviderPayment | None = found.value
    if payment is None or _never_confirmed(payment):
        if payment is None and intent.provider_payment_id is None:
            return await _settle_attempt(uow, attempt_id, payment=None)
        assert payment is not None
        # The provider never saw the confirmation: send it again, with the same key.
        resent = await gateway.confirm_payment(
            payment.provider_id,
            payment_method=attempt.payment_method,
            return_url=None,
            idempotency_key=IdempotencyKey(attempt.provider_idempotency_key),
        )
        if not isinstance(resent, Answered):
            if attempt.checks + 1 >= GIVE_UP_AFTER:
                # The provider shows no charge and keeps failing the call: give the intent
                # back to the customer. (All attempts confirm one provider payment, which
                # can succeed only once: a late success is still taken, never doubled.)
                return await _settle_attempt(
                    uow, attempt_id, payment=payment, failure_code="provider_error"
                )
            return await _later(uow, attempt_id=attempt_id, first_wait=first_wait)
        payment = resent.value
    return await _settle_attempt(uow, attempt_id, payment=payment)


def _never_confirmed(payment: ProviderPayment) -> bool:
    return (
        payment.status
        in {ProviderStatus.REQUIRES_PAYMENT_METHOD, ProviderStatus.REQUIRES_CONFIRMATION}
        and payment.failure_code is None
    )


async def _settle_attempt(
    uow: UnitOfWork,
    attempt_id: uuid.UUID,
    *,
    payment: ProviderPayment | None,
    failure_code: str | None = None,
) -> bool:
    async with uow:
        payments = PaymentsRepository(uow.session)
        attempt = await uow.session.get(PaymentAttempt, attempt_id)
        assert attempt is not None
        intent = await payments.intent_for_update(attempt.intent_id)
        attempt = await uow.session.get(
            PaymentAttempt, attempt_id, with_for_update=True, populate_existing=True
        )
        assert intent is not None
        assert attempt is not None
        if attempt.status in UNRESOLVED_ATTEMPTS:
            if payment is None or failure_code is not None:
                # Never made at the provider, or never confirmed there: nothing was charged.
                code = failure_code or "not_sent"
                resolve_attempt(attempt, IntentStatus.REQUIRES_PAYMENT_METHOD, failure_code=code)
                if await payments.move(intent, IntentStatus.REQUIRES_PAYMENT_METHOD):
                    intent.last_failure_code = code
                    publish_for(uow, intent)
            else:
                await apply_payment(
                    uow, payments, intent, payment, attempt=attempt, answers_attempt=True
                )
        await uow.commit()
        return attempt.status not in UNRESOLVED_ATTEMPTS


async def _later(uow: UnitOfWork, *, attempt_id: uuid.UUID, first_wait: dt.timedelta) -> bool:
    async with uow:
        attempt = await uow.session.get(PaymentAttempt, attempt_id, with_for_update=True)
        if attempt is not None:
            attempt.checks += 1
            attempt.next_check_at = utc_now() + backoff(attempt.checks, first=first_wait)
        await uow.commit()
    return False


async def reconcile_refund(
    refund_id: uuid.UUID,
    *,
    gateway: PaymentGateway,
    uow: UnitOfWork,
    first_wait: dt.timedelta,
) -> bool:
    """Repeat a refund of unknown outcome with its own key: the provider answers with the
    first outcome (or refunds now, once)."""
    async with uow:
        refund = await uow.session.get(Refund, refund_id)
        intent = await uow.session.get(PaymentIntent, refund.intent_id) if refund else None
        await uow.commit()
    if refund is None or intent is None or refund.status not in UNRESOLVED_REFUNDS:
        return True
    assert intent.provider_payment_id is not None
    result = await gateway.refund_payment(
        intent.provider_payment_id,
        amount=refund.amount,
        idempotency_key=IdempotencyKey(refund.provider_idempotency_key),
    )
    async with uow:
        payments = PaymentsRepository(uow.session)
        locked_intent = await payments.intent_for_update(intent.id)
        row = await payments.refund_for_update(refund_id)
        assert locked_intent is not None
        assert row is not None
        match result:
            case Answered(value=provider_refund):
                await apply_refund(uow, payments, locked_intent, row, provider_refund)
            case Rejected(code=code):
                await fail_refund(uow, payments, locked_intent, row, failure_code=code)
            case NoEffect() | Unknown():
                row.checks += 1
                row.next_check_at = utc_now() + backoff(row.checks, first=first_wait)
        await uow.commit()
        return row.status not in UNRESOLVED_REFUNDS


async def reconcile_request(
    intent_id: uuid.UUID, *, gateway: PaymentGateway, uow: UnitOfWork
) -> bool:
    """Repeat a capture or a cancellation whose answer never came, with its own key."""
    async with uow:
        intent = await uow.session.get(PaymentIntent, intent_id)
        await uow.commit()
    if intent is None or intent.provider_payment_id is None:
        return True
    key: IdempotencyKey
    if intent.capture_requested is not None and intent.status == IntentStatus.REQUIRES_CAPTURE:
        key = derive_idempotency_key(ProviderOperation.CAPTURE, object_id=intent.id)
        result = await gateway.capture_payment(
            intent.provider_payment_id, amount=intent.capture_requested, idempotency_key=key
        )
    elif intent.cancel_requested_at is not None and intent.status != IntentStatus.CANCELED:
        key = derive_idempotency_key(ProviderOperation.CANCEL, object_id=intent.id)
        result = await gateway.cancel_payment(intent.provider_payment_id, idempotency_key=key)
    else:
        result = None
    async with uow:
        payments = PaymentsRepository(uow.session)
        locked = await payments.intent_for_update(intent_id)
        assert locked is not None
        if isinstance(result, Answered):
            await apply_payment(uow, payments, locked, result.value, attempt=None)
        if result is None or isinstance(result, Answered | Rejected):
            locked.capture_requested = None
            locked.cancel_requested_at = None
        await uow.commit()
        return locked.capture_requested is None and locked.cancel_requested_at is None
