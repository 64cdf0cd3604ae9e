"""The saga's steps that call the payments service: create the intent, cancel it, refund a
late payment. They run outside any transaction (as jobs, retried while payments cannot be
reached or the payment is still settling) and record their effect in a unit of work of
their own, under the order's row lock, after checking the saga's state: run twice, one effect."""

from __future__ import annotations

import uuid

import structlog

from mercato.orders.events import OrderRefunded
from mercato.orders.payments_client import IntentView, PaymentsClient, PaymentsRefused
from mercato.orders.repository import OrdersRepository
from mercato.orders.saga import (
    SAGA_ACTOR,
    UowFactory,
    compensate,
    event_fields,
    locked,
    record_history,
    refund_late_payment,
    set_step,
    step_job,
)
from mercato.orders.states import OrderStatus
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork

logger = structlog.get_logger(__name__)


async def record_intent(uow: UnitOfWork, *, order_id: uuid.UUID, intent: IntentView) -> None:
    """The intent exists: remember it. If the order was canceled meanwhile (its creation
    was in flight), the intent is canceled in turn."""
    async with uow:
        repo = OrdersRepository(uow.session)
        found = await locked(repo, order_id)
        if found is None:
            return
        order, saga = found
        if saga.intent_id is not None:
            await uow.commit()
            return
        saga.intent_id = intent.id
        order.payment_intent_id = intent.id
        if order.status == OrderStatus.PENDING_PAYMENT:
            set_step(saga, payment="intent_created", last_error=None)
        else:
            set_step(saga, payment="cancel_pending")
            uow.defer(step_job("cancel_intent", order.id))
        await uow.commit()


async def create_intent_step(
    uow_factory: UowFactory, payments: PaymentsClient, *, order_id: uuid.UUID
) -> IntentView | None:
    """Create the order's intent if it is still wanted (`PaymentsUnavailable` when the
    service cannot be reached: the caller retries later). The payments idempotency key is
    the order id: however many times this runs, one intent."""
    async with uow_factory() as probe:
        repo = OrdersRepository(probe.session)
        order, saga = await repo.order(order_id), await repo.saga(order_id)
        if order is None or saga is None or saga.payment != "intent_pending":
            return None
        if order.status != OrderStatus.PENDING_PAYMENT:
            return None
        amount, currency, customer_id = order.total_minor, order.currency, order.customer_id
    try:
        intent = await payments.create_intent(
            order_id=order_id, amount=amount, currency=currency, customer_id=customer_id
        )
    except PaymentsRefused as refused:
        # The service will never take it (a currency it refuses, an amount out of range):
        # give the stock back rather than hold it until the reservation ends.
        logger.error("payment_intent_refused", order_id=str(order_id), status=refused.status)
        await fail_order(uow_factory(), order_id=order_id, reason="payment_refused")
        return None
    await record_intent(uow_factory(), order_id=order_id, intent=intent)
    return intent


async def fail_order(uow: UnitOfWork, *, order_id: uuid.UUID, reason: str) -> None:
    async with uow:
        repo = OrdersRepository(uow.session)
        found = await locked(repo, order_id)
        if found is not None and found[0].status == OrderStatus.PENDING_PAYMENT:
            await compensate(uow, repo, found[0], found[1], reason=reason, actor=SAGA_ACTOR)
        await uow.commit()


async def cancel_intent_step(
    uow_factory: UowFactory, payments: PaymentsClient, *, order_id: uuid.UUID
) -> None:
    """Cancel the intent of a canceled order (compensation). Raises to be retried while
    the payments service is unreachable or the payment is being settled."""
    intent_id = await _waiting_intent(uow_factory, order_id, step="cancel_pending")
    if intent_id is None:
        return
    try:
        intent = await payments.cancel_intent(intent_id, reason="order_canceled")
    except PaymentsRefused:
        intent = await payments.intent(intent_id)  # why not: its state says
    async with uow_factory() as uow:
        repo = OrdersRepository(uow.session)
        found = await locked(repo, order_id)
        assert found is not None
        order, current = found
        if current.payment == "cancel_pending":
            if intent.status == "canceled":
                set_step(current, payment="canceled", last_error=None)
            elif intent.status == "succeeded":
                await refund_late_payment(uow, repo, order, current)
            else:  # processing, or requires_capture: settle first, then cancel again
                await uow.commit()
                raise StepNotDone(f"intent is {intent.status}")
        await uow.commit()


async def _waiting_intent(
    uow_factory: UowFactory, order_id: uuid.UUID, *, step: str
) -> uuid.UUID | None:
    """The intent of a saga waiting at `step`; None when there is nothing to do."""
    async with uow_factory() as probe:
        saga = await OrdersRepository(probe.session).saga(order_id)
        if saga is None or saga.payment != step:
            return None
        return saga.intent_id


class StepNotDone(Exception):
    """A step must run again later (its job is retried)."""


async def refund_late_payment_step(
    uow_factory: UowFactory, payments: PaymentsClient, *, order_id: uuid.UUID
) -> None:
    intent_id = await _waiting_intent(uow_factory, order_id, step="refund_pending")
    if intent_id is None:
        return
    try:
        await payments.refund(
            intent_id,
            amount=None,
            key=f"orders:{order_id}:late-payment-refund",
            reason="order_canceled",
        )
    except PaymentsRefused as refused:
        logger.info("late_payment_refund_refused", order_id=str(order_id), status=refused.status)
    intent = await payments.intent(intent_id)
    if intent.amount_received == 0 or intent.amount_refunded < intent.amount_received:
        raise StepNotDone("the refund is not done yet")
    async with uow_factory() as uow:
        repo = OrdersRepository(uow.session)
        found = await locked(repo, order_id)
        assert found is not None
        order, current = found
        if current.payment == "refund_pending":
            set_step(current, payment="refunded", last_error=None)
            order.refunded_minor = min(order.total_minor, intent.amount_refunded)
            order.updated_at = utc_now()
            record_history(
                repo,
                order,
                from_status=order.status,
                event="late_payment_refunded",
                actor=SAGA_ACTOR,
                amount_minor=intent.amount_refunded,
                detail="The late payment was refunded in full.",
            )
            uow.publish(
                OrderRefunded(
                    **event_fields(order), refunded_minor=order.refunded_minor, status=order.status
                ),
                aggregate_id=order.id,
            )
        await uow.commit()


async def retry_create_intent_later(
    uow: UnitOfWork, *, order_id: uuid.UUID, error: str, delay_s: float = 2.0
) -> None:
    """The checkout could not reach payments: its job creates the intent (retried)."""
    async with uow:
        saga = await OrdersRepository(uow.session).saga_for_update(order_id)
        if saga is not None and saga.payment == "intent_pending":
            saga.attempts += 1
            saga.last_error = error[:200]
            saga.updated_at = utc_now()
            uow.defer(step_job("create_intent", order_id, delay_s=delay_s))
        await uow.commit()
