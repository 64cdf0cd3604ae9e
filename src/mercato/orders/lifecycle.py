"""Use cases on an order after checkout, for customers and the shop's staff.

For the admin API (orders-admin): `cancel_order`, `mark_fulfilled`, `refund_order`,
`apply_refunded_total`; each is one unit of work (refund: with the calls to payments under
the order's row lock), writes the order's history and publishes its event. `actor` is who
did it, as the history shows it: `admin_actor(user_id)`, `customer_actor(user_id)`, or a
`system:<what>`.
"""

from __future__ import annotations

import uuid

from mercato.orders.errors import OrderNotFound, RefundRefused, RefundTooLarge
from mercato.orders.events import OrderFulfilled, OrderRefunded
from mercato.orders.models import Order
from mercato.orders.payments_client import PaymentsClient, PaymentsRefused
from mercato.orders.repository import OrdersRepository
from mercato.orders.saga import (
    UowFactory,
    change_status,
    compensate,
    customer_actor,
    event_fields,
    locked,
)
from mercato.orders.states import REFUNDABLE, OrderStatus, after_refund
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork

__all__ = [
    "admin_actor",
    "apply_refunded_total",
    "cancel_order",
    "customer_actor",
    "mark_fulfilled",
    "refund_order",
]


def admin_actor(user_id: uuid.UUID) -> str:
    return f"admin:{user_id}"


async def cancel_order(
    uow: UnitOfWork,
    *,
    order_id: uuid.UUID,
    actor: str,
    customer_id: uuid.UUID | None = None,
    reason: str = "requested",
) -> Order:
    """Cancel an unpaid order (409 `illegal-order-transition` once paid: refund it
    instead). With `customer_id`, only that customer's order (anyone else's is a 404).
    Compensation: the stock is released in this transaction, the intent canceled by a job."""
    async with uow:
        repo = OrdersRepository(uow.session)
        found = await locked(repo, order_id)
        if found is None or (customer_id is not None and found[0].customer_id != customer_id):
            raise OrderNotFound()
        order, saga = found
        await compensate(uow, repo, order, saga, reason=reason, actor=actor)
        await uow.commit()
    return order


async def mark_fulfilled(uow: UnitOfWork, *, order_id: uuid.UUID, actor: str) -> Order:
    """A paid order is shipped (409 otherwise)."""
    async with uow:
        repo = OrdersRepository(uow.session)
        found = await locked(repo, order_id)
        if found is None:
            raise OrderNotFound()
        order, _ = found
        change_status(repo, order, OrderStatus.FULFILLED, event="fulfilled", actor=actor)
        order.fulfilled_at = utc_now()
        uow.publish(OrderFulfilled(**event_fields(order)), aggregate_id=order.id)
        await uow.commit()
    return order


async def refund_order(
    uow_factory: UowFactory,
    payments: PaymentsClient,
    *,
    order_id: uuid.UUID,
    amount_minor: int | None,
    actor: str,
    key: str,
) -> Order:
    """Refund a paid order in full (`amount_minor` None) or in part, through payments.

    `key` makes the refund idempotent at payments (pass the request's Idempotency-Key): the
    same key never refunds twice. Payments enforces Σ refunds ≤ captured under concurrency;
    the order's refunded total follows what payments says (`apply_refunded_total_in`).

    One unit of work holding the order's row lock across the payments calls (bounded by
    the client's timeouts): refunds of one order run one at a time, and the
    `payments.refund.succeeded` consumer, which takes the same lock, finds this refund
    applied already, so the history names `actor`, never `payments`, for it (found by
    a flaky test: without the lock the consumer sometimes applied it first). A call that
    fails leaves the order as it was; the consumer applies what payments did refund."""
    async with uow_factory() as uow:
        repo = OrdersRepository(uow.session)
        found = await locked(repo, order_id)
        if found is None:
            raise OrderNotFound()
        order, _ = found
        status, total, intent_id = order.status, order.total_minor, order.payment_intent_id
        left = order.total_minor - order.refunded_minor
        if OrderStatus(status) not in REFUNDABLE or intent_id is None:
            # The same 409 the state machine gives, before any money moves.
            after_refund(status, refunded_minor=total, total_minor=total)
        amount = left if amount_minor is None else amount_minor
        if not 0 < amount <= left:
            raise RefundTooLarge(f"At most {left} minor units are left to refund.")
        assert intent_id is not None
        try:
            await payments.refund(
                intent_id,
                amount=amount,
                key=f"orders:{order_id}:refund:{key}",
                reason="requested_by_customer",
            )
        except PaymentsRefused as refused:
            # Payments' decision (e.g. a concurrent refund took what was left): a conflict
            # for the caller to look at again, never a 500.
            raise RefundRefused(
                "Payments refused the refund; read the order again for what is left to refund."
            ) from refused
        intent = await payments.intent(intent_id)
        await apply_refunded_total_in(
            uow, order_id=order_id, refunded_minor=intent.amount_refunded, actor=actor
        )
        await uow.commit()
    return order


async def apply_refunded_total(
    uow: UnitOfWork, *, order_id: uuid.UUID, refunded_minor: int, actor: str
) -> Order:
    """Payments says `refunded_minor` is refunded on the order's intent so far: raise the
    order's total to it (never lower: totals only grow, so events in any order and twice
    have one effect), with the transition it makes and its history."""
    async with uow:
        order = await apply_refunded_total_in(
            uow, order_id=order_id, refunded_minor=refunded_minor, actor=actor
        )
        if order is None:
            raise OrderNotFound()
        await uow.commit()
    return order


async def apply_refunded_total_in(
    uow: UnitOfWork, *, order_id: uuid.UUID, refunded_minor: int, actor: str
) -> Order | None:
    """`apply_refunded_total` inside an open unit of work (the refund event's consumer)."""
    repo = OrdersRepository(uow.session)
    found = await locked(repo, order_id)
    if found is None:
        return None
    order, _ = found
    total = min(refunded_minor, order.total_minor)
    if total > order.refunded_minor and OrderStatus(order.status) in REFUNDABLE:
        added = total - order.refunded_minor
        order.refunded_minor = total
        target = after_refund(order.status, refunded_minor=total, total_minor=order.total_minor)
        change_status(repo, order, target, event="refunded", actor=actor, amount_minor=added)
        uow.publish(
            OrderRefunded(**event_fields(order), refunded_minor=total, status=order.status),
            aggregate_id=order.id,
        )
    return order
