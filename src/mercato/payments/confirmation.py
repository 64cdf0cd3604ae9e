"""Confirming an intent: one attempt to pay it with a payment method.

Three steps, each durable before the next (the recovery points of a payment):

1. *started*: in one transaction, the intent (row-locked) moves to `processing` and a
   `pending` attempt is stored with its provider idempotency key, derived from the
   attempt's id. A second confirmation meanwhile finds the active attempt (a partial
   unique index) and is refused: never two charges for one intent.
2. *provider called* (outside any transaction): the provider's payment is made on the
   first confirmation (its key derived from the intent's id), then confirmed with the
   attempt's key. The gateway retries only what is safe, always with the same key.
3. *finished*: the answer is applied under the row lock (`provider_state.apply_payment`);
   an answer we did not get leaves the attempt `unknown`, and the reconciler asks the
   provider before anything else happens to the intent.

A process killed between 1 and 3 leaves a `pending` attempt: the reconciler resolves it
the same way (the provider finds the payment by our reference, or answers the repeated
call with the first outcome).

The request's Idempotency-Key is claimed in step 1's transaction and its answer stored in
step 3's: a process killed before the attempt exists leaves no claim behind, so the
client's retry runs at once; one killed after it leaves the key in flight (409) while the
reconciler settles the attempt, and the client reads the intent to learn the outcome.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from starlette.responses import Response

from mercato.payments.errors import (
    IntentNotFound,
    InvalidIntentState,
    ProviderDeclined,
    ProviderUnavailable,
)
from mercato.payments.gateway import PaymentGateway
from mercato.payments.idempotency_keys import ProviderOperation, derive_idempotency_key
from mercato.payments.intents import may_act_on
from mercato.payments.models import PaymentAttempt, PaymentIntent
from mercato.payments.outcomes import Answered, NoEffect, Rejected, Unknown, WriteResult
from mercato.payments.provider_state import apply_payment, publish_for
from mercato.payments.providers.base import CaptureMethod, CreatePayment, ProviderPayment
from mercato.payments.repository import PaymentsRepository
from mercato.payments.schemas import ConfirmIn
from mercato.payments.states import CONFIRMABLE, AttemptStatus, IntentStatus
from mercato.payments.tasks import reconcile_attempt_job
from mercato.platform.auth import Principal
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.idempotency import KeyClaim
from mercato.platform.ids import uuid7

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    """How the confirmation's answer is kept: the request's key (None without one) and
    the function that renders the intent as the response stored with it."""

    claim: KeyClaim | None
    render: Callable[[PaymentIntent], Response]


@dataclass(frozen=True, slots=True)
class _Started:
    attempt_id: uuid.UUID
    provider_payment_id: str | None
    request: CreatePayment


async def confirm_intent(
    *,
    intent_id: uuid.UUID,
    confirm: ConfirmIn,
    principal: Principal,
    gateway: PaymentGateway,
    uow: UnitOfWork,
    recheck_after: dt.timedelta,
    answer: Answer,
) -> Response:
    """Pay the intent with `confirm.payment_method` (see the module docstring); the
    rendered intent, or the answer stored with a replayed key."""
    started = await _start(
        uow,
        intent_id=intent_id,
        confirm=confirm,
        principal=principal,
        claim=answer.claim,
        # Past the gateway's deadline: the call has ended one way or another by then.
        check_at=utc_now() + gateway.deadline + recheck_after,
    )
    if isinstance(started, Response):
        return started
    attempt_id, provider_payment_id = started.attempt_id, started.provider_payment_id
    if provider_payment_id is None:
        created = await gateway.create_payment(
            started.request,
            idempotency_key=derive_idempotency_key(ProviderOperation.CREATE, object_id=intent_id),
        )
        if not isinstance(created, Answered):
            return await _finish(
                uow,
                intent_id=intent_id,
                attempt_id=attempt_id,
                result=created,
                recheck_after=recheck_after,
                answer=answer,
            )
        provider_payment_id = created.value.provider_id
        await _remember_provider_payment(uow, intent_id, provider_payment_id)
    result = await gateway.confirm_payment(
        provider_payment_id,
        payment_method=confirm.payment_method,
        return_url=str(confirm.return_url) if confirm.return_url is not None else None,
        idempotency_key=derive_idempotency_key(ProviderOperation.CONFIRM, object_id=attempt_id),
    )
    return await _finish(
        uow,
        intent_id=intent_id,
        attempt_id=attempt_id,
        result=result,
        recheck_after=recheck_after,
        answer=answer,
    )


async def _start(
    uow: UnitOfWork,
    *,
    intent_id: uuid.UUID,
    confirm: ConfirmIn,
    principal: Principal,
    claim: KeyClaim | None,
    check_at: dt.datetime,
) -> _Started | Response:
    """Recovery point 1: the key claimed, the attempt and its provider key stored, the
    intent `processing`, and the attempt's check queued with them: if this process dies
    before the answer is recorded, a worker asks the provider at `check_at` (a no-op if it
    was recorded). A replayed key: its stored answer."""
    async with uow:
        if claim is not None and (replay := await claim.claim_in(uow.session)) is not None:
            return replay
        payments = PaymentsRepository(uow.session)
        intent = await payments.intent_for_update(intent_id)
        if intent is None or not may_act_on(principal, intent):
            raise IntentNotFound()
        if IntentStatus(intent.status) not in CONFIRMABLE:
            raise InvalidIntentState(f"An intent in status {intent.status} cannot be confirmed.")
        attempt_id = uuid7()
        await payments.add_attempt(
            PaymentAttempt(
                id=attempt_id,
                intent_id=intent.id,
                number=await payments.next_attempt_number(intent.id),
                payment_method=confirm.payment_method,
                status=AttemptStatus.PENDING.value,
                provider_idempotency_key=derive_idempotency_key(
                    ProviderOperation.CONFIRM, object_id=attempt_id
                ),
                checks=0,
                next_check_at=check_at,
            )
        )
        uow.defer(reconcile_attempt_job(attempt_id=attempt_id, at=check_at))
        await payments.move(intent, IntentStatus.PROCESSING)
        intent.last_failure_code = intent.last_failure_message = None
        await uow.commit()
    request = CreatePayment(
        amount=intent.amount,
        currency=intent.currency,
        reference=str(intent.id),
        capture_method=CaptureMethod(intent.capture_method),
        metadata={"order_reference": intent.order_reference},
    )
    return _Started(attempt_id, intent.provider_payment_id, request)


async def _remember_provider_payment(
    uow: UnitOfWork, intent_id: uuid.UUID, provider_payment_id: str
) -> None:
    async with uow:
        intent = await PaymentsRepository(uow.session).intent_for_update(intent_id)
        if intent is not None and intent.provider_payment_id is None:
            intent.provider_payment_id = provider_payment_id
        await uow.commit()


async def _finish(
    uow: UnitOfWork,
    *,
    intent_id: uuid.UUID,
    attempt_id: uuid.UUID,
    result: WriteResult[ProviderPayment],
    recheck_after: dt.timedelta,
    answer: Answer,
) -> Response:
    """Recovery point 3: what the provider said (or that we do not know) is recorded, with
    the answer kept for the key; a refusal gives the key up (the retry runs for real)."""
    async with uow:
        payments = PaymentsRepository(uow.session)
        intent = await payments.intent_for_update(intent_id)
        attempt = await uow.session.get(PaymentAttempt, attempt_id, with_for_update=True)
        assert intent is not None
        assert attempt is not None
        refusal: Exception | None = None
        if attempt.status != AttemptStatus.PENDING.value:
            pass  # settled meanwhile (a webhook or the reconciler got there first)
        else:
            match result:
                case Answered(value=payment):
                    await apply_payment(
                        uow, payments, intent, payment, attempt=attempt, answers_attempt=True
                    )
                case Rejected(code=code):
                    await _fail(uow, payments, intent, attempt, failure_code=code)
                    refusal = ProviderDeclined(f"The provider refused the payment ({code}).")
                case NoEffect(reason=reason):
                    await _fail(uow, payments, intent, attempt, failure_code="provider_unavailable")
                    refusal = ProviderUnavailable(
                        f"The payment did not reach the provider ({reason})."
                    )
                case Unknown(cause=cause):
                    attempt.status = AttemptStatus.UNKNOWN.value
                    attempt.failure_message = cause[:500]
                    attempt.next_check_at = utc_now() + recheck_after
                    attempt.updated_at = utc_now()
                    uow.defer(
                        reconcile_attempt_job(attempt_id=attempt.id, at=attempt.next_check_at)
                    )
                    logger.warning("payment_outcome_unknown", intent_id=str(intent.id), cause=cause)
        await uow.session.flush()
        response = answer.render(intent)
        if answer.claim is not None:
            if refusal is None:
                await answer.claim.complete_in(uow.session, response)
            else:
                await answer.claim.release_in(uow.session)
        await uow.commit()
    if refusal is not None:
        raise refusal
    return response


async def _fail(
    uow: UnitOfWork,
    payments: PaymentsRepository,
    intent: PaymentIntent,
    attempt: PaymentAttempt,
    *,
    failure_code: str,
) -> None:
    """The attempt certainly did not pay: the intent waits for another payment method."""
    now = utc_now()
    attempt.status = AttemptStatus.FAILED.value
    attempt.failure_code = failure_code[:64]
    attempt.resolved_at = attempt.updated_at = now
    attempt.next_check_at = None
    intent.last_failure_code = failure_code[:64]
    if await payments.move(intent, IntentStatus.REQUIRES_PAYMENT_METHOD):
        publish_for(uow, intent)
