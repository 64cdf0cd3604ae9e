"""Orders hears from payments (its events, source "payments"): the checkout saga advances.

Each event is applied once (the inbox, in the handler's unit of work) under the order's row
lock; an event about an intent that is not an order's (another client of payments) is
ignored. Out of order is fine: each handler acts on the order's persisted state, and a
late `failed` or `canceled` never touches a paid order.
"""

from __future__ import annotations

import uuid

from mercato.orders import lifecycle, saga
from mercato.payments import IntentCanceled, IntentFailed, IntentSucceeded, RefundSucceeded
from mercato.platform.events.consumers import ConsumerRegistry, HandlerContext, RetryPolicy
from mercato.platform.runtime import Runtime

GROUP = "orders-checkout"
SOURCE = "payments"
# Rides out a restart of the database; a poison event is dead-lettered after that.
RETRY = RetryPolicy(max_attempts=8, backoff_s=(0.5, 2.0, 10.0, 30.0, 60.0))


def _order_id(reference: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(reference)
    except ValueError:
        return None


def registry(runtime: Runtime) -> ConsumerRegistry:
    consumers = ConsumerRegistry()

    @consumers.consumer(IntentSucceeded, group=GROUP, source=SOURCE, retry=RETRY)
    async def paid(event: IntentSucceeded, context: HandlerContext) -> None:
        order_id = _order_id(event.order_reference)
        if order_id is not None:
            await saga.payment_succeeded(
                context.uow,
                order_id=order_id,
                intent_id=event.intent_id,
                amount_received=event.amount_received,
            )

    @consumers.consumer(IntentFailed, group=GROUP, source=SOURCE, retry=RETRY)
    async def failed(event: IntentFailed, context: HandlerContext) -> None:
        order_id = _order_id(event.order_reference)
        if order_id is not None:
            await saga.payment_ended(
                context.uow, order_id=order_id, reason="payment_failed", intent_canceled=False
            )

    @consumers.consumer(IntentCanceled, group=GROUP, source=SOURCE, retry=RETRY)
    async def canceled(event: IntentCanceled, context: HandlerContext) -> None:
        order_id = _order_id(event.order_reference)
        if order_id is not None:
            await saga.payment_ended(
                context.uow, order_id=order_id, reason="payment_canceled", intent_canceled=True
            )

    @consumers.consumer(RefundSucceeded, group=GROUP, source=SOURCE, retry=RETRY)
    async def refunded(event: RefundSucceeded, context: HandlerContext) -> None:
        order_id = _order_id(event.order_reference)
        if order_id is not None:
            await lifecycle.apply_refunded_total_in(
                context.uow,
                order_id=order_id,
                refunded_minor=event.amount_refunded,
                actor=saga.PAYMENTS_ACTOR,
            )

    return consumers
