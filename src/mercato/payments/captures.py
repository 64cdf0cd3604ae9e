"""Capturing an authorised intent (manual capture), in full or in part.

The same recovery points as a confirmation: the requested amount is stored under the row
lock before the call (`capture_requested`, its provider key derived from the intent's id:
one capture per intent, as providers allow), the answer is applied after; a lost answer
leaves `capture_requested` set for the reconciler.
"""

from __future__ import annotations

import uuid

from mercato.payments.errors import (
    IntentNotFound,
    InvalidIntentState,
    PaymentInProgress,
    ProviderDeclined,
    ProviderUnavailable,
)
from mercato.payments.gateway import PaymentGateway
from mercato.payments.idempotency_keys import ProviderOperation, derive_idempotency_key
from mercato.payments.intents import may_act_on
from mercato.payments.models import PaymentIntent
from mercato.payments.outcomes import Answered, NoEffect, Rejected, Unknown
from mercato.payments.provider_state import apply_payment
from mercato.payments.repository import PaymentsRepository
from mercato.payments.states import IntentStatus
from mercato.platform.auth import Principal
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import Invalid


async def capture_intent(
    *,
    intent_id: uuid.UUID,
    amount: int | None,
    principal: Principal,
    gateway: PaymentGateway,
    uow: UnitOfWork,
) -> PaymentIntent:
    """Capture `amount` (default: all that is capturable); the rest is released."""
    async with uow:
        payments = PaymentsRepository(uow.session)
        intent = await payments.intent_for_update(intent_id)
        if intent is None or not may_act_on(principal, intent):
            raise IntentNotFound()
        if intent.status != IntentStatus.REQUIRES_CAPTURE:
            raise InvalidIntentState(f"An intent in status {intent.status} cannot be captured.")
        if intent.capture_requested is not None:
            raise PaymentInProgress("A capture of this intent is being settled.")
        to_capture = amount if amount is not None else intent.amount_capturable
        if not 0 < to_capture <= intent.amount_capturable:
            raise Invalid(
                "The amount must be positive and at most what is capturable.",
                errors=[{"in": "body", "pointer": "/amount", "detail": "out of range"}],
            )
        intent.capture_requested = to_capture
        provider_payment_id = intent.provider_payment_id
        await uow.commit()
    assert provider_payment_id is not None  # authorised: the provider has the payment
    result = await gateway.capture_payment(
        provider_payment_id,
        amount=to_capture,
        idempotency_key=derive_idempotency_key(ProviderOperation.CAPTURE, object_id=intent_id),
    )
    async with uow:
        payments = PaymentsRepository(uow.session)
        intent = await payments.intent_for_update(intent_id)
        assert intent is not None
        refusal: Exception | None = None
        match result:
            case Answered(value=payment):
                await apply_payment(uow, payments, intent, payment, attempt=None)
            case Rejected(code=code):
                intent.capture_requested = None
                refusal = ProviderDeclined(f"The provider refused the capture ({code}).")
            case NoEffect():
                intent.capture_requested = None
                refusal = ProviderUnavailable("The capture did not reach the provider.")
            case Unknown():
                pass  # `capture_requested` stays: the reconciler asks the provider
        await uow.commit()
    if refusal is not None:
        raise refusal
    return intent
