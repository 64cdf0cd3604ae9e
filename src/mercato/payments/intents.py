"""Payment intents: create one for an order, read it, cancel it.

Each use case is one unit of work. Creating an intent calls no provider: the provider's
payment is made on the first confirmation (`confirmation.py`), so a checkout never waits on
the provider to open an order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from starlette.responses import Response

from mercato.payments.auth import ADMIN, READ, WRITE
from mercato.payments.errors import (
    IntentNotFound,
    InvalidIntentState,
    PaymentInProgress,
    ProviderDeclined,
    ProviderUnavailable,
)
from mercato.payments.gateway import PaymentGateway
from mercato.payments.idempotency_keys import ProviderOperation, derive_idempotency_key
from mercato.payments.models import PaymentIntent
from mercato.payments.outcomes import Answered, NoEffect, Rejected, Unknown
from mercato.payments.provider_state import apply_payment, publish_for
from mercato.payments.repository import PaymentsReads, PaymentsRepository
from mercato.payments.schemas import CancelIn, IntentIn
from mercato.payments.states import CANCELABLE, AttemptStatus, IntentStatus
from mercato.platform.auth import Principal
from mercato.platform.clock import utc_now
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.idempotency import KeyClaim
from mercato.platform.ids import uuid7


def may_act_on(principal: Principal, intent: PaymentIntent) -> bool:
    """Services and administrators act on any intent; a customer on their own only."""
    if principal.permissions & {WRITE, ADMIN}:
        return True
    return intent.customer_id is not None and intent.customer_id == principal.user_id


def may_read(principal: Principal, intent: PaymentIntent) -> bool:
    return READ in principal.permissions or may_act_on(principal, intent)


async def create_intent(
    intent_in: IntentIn,
    *,
    provider: str,
    uow: UnitOfWork,
    claim: KeyClaim,
    render: Callable[[PaymentIntent], Response],
) -> Response:
    """A new intent for an order (409 if the order has a live one). The idempotency key is
    claimed, and the answer (`render`) stored, in the intent's own transaction: a retry
    replays it, and no crash can leave an intent without its answer or the reverse."""
    intent = _new_intent(intent_in, provider=provider)
    async with uow:
        replay = await claim.claim_in(uow.session)
        if replay is not None:
            return replay
        await PaymentsRepository(uow.session).add_intent(intent)
        created = render(intent)
        await claim.complete_in(uow.session, created)
        await uow.commit()
    return created


def _new_intent(intent_in: IntentIn, *, provider: str) -> PaymentIntent:
    return PaymentIntent(
        id=uuid7(),
        amount=intent_in.amount,
        currency=intent_in.currency,
        status=IntentStatus.REQUIRES_PAYMENT_METHOD.value,
        capture_method=intent_in.capture_method,
        order_reference=intent_in.order_reference,
        customer_id=intent_in.customer_id,
        description=intent_in.description,
        metadata_=dict(intent_in.metadata),
        provider=provider,
        amount_capturable=0,
        amount_received=0,
        amount_refunded=0,
        version=1,
        created_at=utc_now(),
        updated_at=utc_now(),
    )


async def intent_for(
    database: Database, *, intent_id: uuid.UUID, principal: Principal
) -> PaymentIntent:
    """An intent the caller may see; anyone else's answers 404, like a missing one. Read on
    the primary: a payer polls right after paying."""
    async with database.session() as session:
        intent = await PaymentsReads(session).intent(intent_id)
    if intent is None or not may_read(principal, intent):
        raise IntentNotFound()
    return intent


async def cancel_intent(
    *,
    intent_id: uuid.UUID,
    cancel: CancelIn,
    principal: Principal,
    gateway: PaymentGateway,
    uow: UnitOfWork,
) -> PaymentIntent:
    """Cancel an intent that has not been captured (an authorisation is released at the
    provider). Idempotent: canceling a canceled intent answers it as it is."""
    async with uow:
        payments = PaymentsRepository(uow.session)
        intent = await _locked(payments, intent_id, principal)
        if intent.status == IntentStatus.CANCELED:
            await uow.commit()
            return intent
        if IntentStatus(intent.status) not in CANCELABLE:
            raise InvalidIntentState(f"An intent in status {intent.status} cannot be canceled.")
        if intent.status == IntentStatus.PROCESSING:
            # A confirmation is in flight (or its outcome is being reconciled): canceling
            # now could race a charge; cancel once it is settled.
            raise PaymentInProgress("A payment attempt is being settled; cancel after it.")
        intent.cancellation_reason = cancel.reason
        if intent.provider_payment_id is None:
            # Nothing exists at the provider: the cancellation is ours alone.
            await apply_canceled(uow, payments, intent)
            await uow.commit()
            return intent
        intent.cancel_requested_at = utc_now()
        provider_payment_id = intent.provider_payment_id
        await uow.commit()
    result = await gateway.cancel_payment(
        provider_payment_id,
        idempotency_key=derive_idempotency_key(ProviderOperation.CANCEL, object_id=intent_id),
    )
    async with uow:
        payments = PaymentsRepository(uow.session)
        intent = await _locked(payments, intent_id, principal)
        match result:
            case Answered(value=payment):
                await apply_payment(uow, payments, intent, payment, attempt=None)
                intent.cancel_requested_at = None
            case Rejected(code=code):
                intent.cancel_requested_at = None
                await uow.commit()
                raise ProviderDeclined(f"The provider refused the cancellation ({code}).")
            case NoEffect():
                intent.cancel_requested_at = None
                await uow.commit()
                raise ProviderUnavailable("The cancellation did not reach the provider.")
            case Unknown():
                pass  # the reconciler asks the provider (cancel_requested_at stays set)
        await uow.commit()
    return intent


async def apply_canceled(
    uow: UnitOfWork, payments: PaymentsRepository, intent: PaymentIntent
) -> None:
    """Cancel an intent the provider never heard of (no provider payment yet)."""
    if await payments.move(intent, IntentStatus.CANCELED):
        attempt = await payments.active_attempt(intent.id)
        if attempt is not None:
            attempt.status = AttemptStatus.CANCELED.value
            attempt.resolved_at = utc_now()
        publish_for(uow, intent)


async def _locked(
    payments: PaymentsRepository, intent_id: uuid.UUID, principal: Principal
) -> PaymentIntent:
    intent = await payments.intent_for_update(intent_id)
    if intent is None or not may_act_on(principal, intent):
        raise IntentNotFound()
    return intent
