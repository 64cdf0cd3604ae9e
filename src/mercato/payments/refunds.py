"""Refunds: money back, in full or in part, never more than was captured.

The amount is held against the capture atomically (`hold_refund`: one conditional UPDATE,
so concurrent refunds can never add up past the captured amount) in the same transaction
that stores the refund with its provider idempotency key; then the provider is called; a
failed refund gives its hold back, a lost answer leaves it `unknown` for the reconciler.
"""

from __future__ import annotations

import uuid

from mercato.payments.errors import (
    IntentNotFound,
    InvalidIntentState,
    ProviderDeclined,
    ProviderUnavailable,
    RefundExceedsCapture,
)
from mercato.payments.events import RefundFailed, RefundSucceeded
from mercato.payments.gateway import PaymentGateway
from mercato.payments.idempotency_keys import ProviderOperation, derive_idempotency_key
from mercato.payments.intents import may_act_on
from mercato.payments.models import PaymentIntent, Refund
from mercato.payments.outcomes import Answered, NoEffect, Rejected, Unknown
from mercato.payments.providers.base import ProviderRefund
from mercato.payments.providers.base import RefundStatus as ProviderRefundStatus
from mercato.payments.repository import PaymentsRepository
from mercato.payments.schemas import RefundIn
from mercato.payments.states import IntentStatus, RefundStatus
from mercato.platform.auth import Principal
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.ids import uuid7


async def refund_intent(
    *,
    intent_id: uuid.UUID,
    refund_in: RefundIn,
    principal: Principal,
    gateway: PaymentGateway,
    uow: UnitOfWork,
) -> Refund:
    async with uow:
        payments = PaymentsRepository(uow.session)
        intent = await payments.intent_for_update(intent_id)
        if intent is None or not may_act_on(principal, intent):
            raise IntentNotFound()
        if intent.status != IntentStatus.SUCCEEDED:
            raise InvalidIntentState("Only a captured (succeeded) intent can be refunded.")
        amount = refund_in.amount or intent.amount_received - intent.amount_refunded
        if amount <= 0 or not await payments.hold_refund(intent, amount):
            raise RefundExceedsCapture(
                "Refunds cannot exceed the captured amount (pending refunds count)."
            )
        refund_id = uuid7()
        refund = Refund(
            id=refund_id,
            intent_id=intent.id,
            amount=amount,
            currency=intent.currency,
            status=RefundStatus.PENDING.value,
            reason=refund_in.reason,
            provider_idempotency_key=derive_idempotency_key(
                ProviderOperation.REFUND, object_id=refund_id
            ),
            checks=0,
        )
        payments.add(refund)
        provider_payment_id = intent.provider_payment_id
        await uow.commit()
    assert provider_payment_id is not None
    result = await gateway.refund_payment(
        provider_payment_id,
        amount=amount,
        idempotency_key=derive_idempotency_key(ProviderOperation.REFUND, object_id=refund_id),
    )
    async with uow:
        payments = PaymentsRepository(uow.session)
        intent = await payments.intent_for_update(intent_id)
        refund_row = await payments.refund_for_update(refund_id)
        assert intent is not None
        assert refund_row is not None
        refusal: Exception | None = None
        match result:
            case Answered(value=provider_refund):
                await apply_refund(uow, payments, intent, refund_row, provider_refund)
            case Rejected(code=code):
                await fail_refund(uow, payments, intent, refund_row, failure_code=code)
                refusal = ProviderDeclined(f"The provider refused the refund ({code}).")
            case NoEffect():
                await fail_refund(
                    uow, payments, intent, refund_row, failure_code="provider_unavailable"
                )
                refusal = ProviderUnavailable("The refund did not reach the provider.")
            case Unknown():
                refund_row.status = RefundStatus.UNKNOWN.value
                refund_row.next_check_at = utc_now()
        await uow.commit()
    if refusal is not None:
        raise refusal
    return refund_row


async def apply_refund(
    uow: UnitOfWork,
    payments: PaymentsRepository,
    intent: PaymentIntent,
    refund: Refund,
    provider_refund: ProviderRefund,
) -> None:
    """Record the provider's word on a refund (rows locked by the caller)."""
    if refund.status in {RefundStatus.SUCCEEDED.value, RefundStatus.FAILED.value}:
        return  # settled already: a duplicate answer changes nothing
    refund.provider_refund_id = provider_refund.provider_id
    match provider_refund.status:
        case ProviderRefundStatus.SUCCEEDED:
            refund.status = RefundStatus.SUCCEEDED.value
            refund.next_check_at = None
            refund.updated_at = utc_now()
            uow.publish(
                RefundSucceeded(
                    refund_id=refund.id,
                    intent_id=intent.id,
                    order_reference=intent.order_reference,
                    amount=refund.amount,
                    currency=refund.currency,
                    amount_refunded=intent.amount_refunded,
                ),
                aggregate_id=intent.id,
            )
        case ProviderRefundStatus.FAILED:
            await fail_refund(
                uow,
                payments,
                intent,
                refund,
                failure_code=provider_refund.failure_code or "refund_failed",
            )
        case ProviderRefundStatus.PENDING:
            refund.status = RefundStatus.PENDING.value
            refund.next_check_at = utc_now()


async def fail_refund(
    uow: UnitOfWork,
    payments: PaymentsRepository,
    intent: PaymentIntent,
    refund: Refund,
    *,
    failure_code: str,
) -> None:
    """The refund certainly did not happen: its hold is given back."""
    refund.status = RefundStatus.FAILED.value
    refund.failure_code = failure_code[:64]
    refund.next_check_at = None
    refund.updated_at = utc_now()
    await payments.release_refund(intent, refund.amount)
    uow.publish(
        RefundFailed(
            refund_id=refund.id,
            intent_id=intent.id,
            order_reference=intent.order_reference,
            amount=refund.amount,
            currency=refund.currency,
            failure_code=refund.failure_code,
        ),
        aggregate_id=intent.id,
    )
