"""The checkout saga: the persisted steps that follow a placed order to paid, or back.

```
checkout (one transaction): reserve stock, order pending_payment, saga row, order.placed
  |
  +- create the intent (HTTP, key = order id)          payment: intent_pending
  |    ok -> intent_created      unreachable -> job orders:create_intent, retried
  |
  +- payments.intent.succeeded -> commit stock, paid   stock: committed (completed)
  |
  +- payments.intent.failed/.canceled, reservation end (job), a cancel:
       -> order canceled, stock released               stock: released
       -> intent canceled (job orders:cancel_intent)   payment: cancel_pending -> canceled
       paid after all -> refunded (job orders:refund_late_payment), in the history
                                                       payment: refund_pending -> refunded
```

Every step runs in a unit of work of its own, under the order's row lock, and checks the
saga's persisted state first: a step that finds its work done does nothing, so steps may
run twice (a redelivered event, a job run again after a crash) with one effect. Steps that
call the payments service (outside any transaction) are jobs; their effect is recorded in
the next unit of work. `resume_stale_sagas` (every minute) defers again any step whose job
was lost with its process: the orchestrator resumes after its own crash.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence

import structlog

from mercato.catalog import StockLine, commit_stock, release_stock
from mercato.orders.events import OrderCanceled, OrderPaid
from mercato.orders.models import CheckoutSaga, Order, OrderHistory, OrderLine
from mercato.orders.repository import OrdersRepository
from mercato.orders.states import OrderStatus, transition
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.jobs.queue import JobRequest

logger = structlog.get_logger(__name__)

# `runtime.unit_of_work`: a fresh unit of work per step.
UowFactory = Callable[[], UnitOfWork]

NAMESPACE = "orders"
SAGA_QUEUE = "orders"
PAYMENTS_ACTOR = "payments"
EXPIRY_ACTOR = "system:expiry"
SAGA_ACTOR = "system:checkout"
WAITING_STEPS = {
    "intent_pending": "create_intent",
    "cancel_pending": "cancel_intent",
    "refund_pending": "refund_late_payment",
}


def customer_actor(user_id: uuid.UUID) -> str:
    return f"customer:{user_id}"


def step_job(step: str, order_id: uuid.UUID, *, delay_s: float = 0) -> JobRequest:
    """The job of a saga step that calls the payments service (`tasks.py`). One job of an
    order runs at a time (its lock); every run of it is safe (see the module doc)."""
    return JobRequest(
        task_name=f"{NAMESPACE}:{step}",
        queue=SAGA_QUEUE,
        args={"order_id": str(order_id)},
        lock=f"orders-saga:{order_id}",
        scheduled_at=utc_now() + dt.timedelta(seconds=delay_s) if delay_s else None,
    )


# --- building blocks (inside a unit of work, under the order's row lock) ----------------


def record_history(
    repo: OrdersRepository,
    order: Order,
    *,
    from_status: str | None,
    event: str,
    actor: str,
    detail: str | None = None,
    amount_minor: int | None = None,
) -> None:
    repo.add(
        OrderHistory(
            order_id=order.id,
            from_status=from_status,
            to_status=order.status,
            event=event,
            actor=actor,
            detail=detail,
            amount_minor=amount_minor,
        )
    )


def change_status(
    repo: OrdersRepository,
    order: Order,
    target: OrderStatus,
    *,
    event: str,
    actor: str,
    detail: str | None = None,
    amount_minor: int | None = None,
) -> None:
    """Apply a transition the table allows (409 otherwise) and write it into the history."""
    before = order.status
    order.status = transition(before, target).value
    order.version += 1
    order.updated_at = utc_now()
    record_history(
        repo,
        order,
        from_status=before,
        event=event,
        actor=actor,
        detail=detail,
        amount_minor=amount_minor,
    )


def set_step(saga: CheckoutSaga, **changes: object) -> None:
    for name, value in changes.items():
        setattr(saga, name, value)
    if saga.stock in {"committed", "released"} and saga.payment in {"succeeded"}:
        saga.status = "completed"
    elif saga.stock == "released" and saga.payment in {"canceled", "refunded"}:
        saga.status = "compensated"
    else:
        saga.status = "running"
    saga.updated_at = utc_now()


async def stock_lines(repo: OrdersRepository, order_id: uuid.UUID) -> list[StockLine]:
    lines: Sequence[OrderLine] = await repo.order_lines(order_id)
    return [StockLine(variant_id=line.variant_id, quantity=line.quantity) for line in lines]


async def locked(repo: OrdersRepository, order_id: uuid.UUID) -> tuple[Order, CheckoutSaga] | None:
    order = await repo.order_for_update(order_id)
    if order is None:
        return None
    saga = await repo.saga(order_id)
    assert saga is not None, "every order has its saga row"
    return order, saga


def event_fields(order: Order) -> dict[str, object]:
    return {
        "order_id": order.id,
        "customer_id": order.customer_id,
        "currency": order.currency,
        "total_minor": order.total_minor,
    }


async def compensate(
    uow: UnitOfWork,
    repo: OrdersRepository,
    order: Order,
    saga: CheckoutSaga,
    *,
    reason: str,
    actor: str,
    intent_canceled: bool = False,
) -> None:
    """Cancel an unpaid order: the order canceled, its stock released now, its intent
    canceled by a job (or nothing to cancel). 409 if the order is not unpaid."""
    change_status(repo, order, OrderStatus.CANCELED, event="canceled", actor=actor, detail=reason)
    order.canceled_at = utc_now()
    order.cancel_reason = reason
    if saga.stock == "reserved":
        await release_stock(uow, await stock_lines(repo, order.id))
        set_step(saga, stock="released")
    if intent_canceled:
        set_step(saga, payment="canceled")
    elif saga.payment == "intent_created":
        set_step(saga, payment="cancel_pending")
        uow.defer(step_job("cancel_intent", order.id))
    elif saga.payment == "intent_pending":
        # No intent yet: if its creation is in flight, `record_intent` cancels what it made.
        set_step(saga, payment="canceled")
    uow.publish(OrderCanceled(**event_fields(order), reason=reason), aggregate_id=order.id)


# --- steps ------------------------------------------------------------------------------


async def payment_succeeded(
    uow: UnitOfWork, *, order_id: uuid.UUID, intent_id: uuid.UUID, amount_received: int
) -> None:
    """`payments.intent.succeeded`, in the consumer's unit of work: the order is paid and
    its stock committed; or, if the order was canceled meanwhile, the money goes back."""
    repo = OrdersRepository(uow.session)
    found = await locked(repo, order_id)
    if found is None:
        return
    order, saga = found
    if saga.intent_id is not None and saga.intent_id != intent_id:
        # Another intent naming this order (any payments client may set a reference): it
        # pays nothing of ours. Logged for the operators; its money is that client's.
        logger.warning("foreign_intent_ignored", order_id=str(order_id), intent_id=str(intent_id))
        return
    if amount_received < order.total_minor:
        logger.warning("short_payment_ignored", order_id=str(order_id), intent_id=str(intent_id))
        return
    if saga.intent_id is None:
        saga.intent_id = intent_id
        order.payment_intent_id = intent_id
    if order.status == OrderStatus.PENDING_PAYMENT:
        if saga.stock == "reserved":
            await commit_stock(uow, await stock_lines(repo, order.id))
        order.paid_at = utc_now()
        change_status(
            repo,
            order,
            OrderStatus.PAID,
            event="paid",
            actor=PAYMENTS_ACTOR,
            amount_minor=amount_received,
        )
        set_step(saga, stock="committed", payment="succeeded", last_error=None)
        uow.publish(
            OrderPaid(**event_fields(order), payment_intent_id=intent_id), aggregate_id=order.id
        )
        return
    if order.status == OrderStatus.CANCELED:
        await refund_late_payment(uow, repo, order, saga)


async def refund_late_payment(
    uow: UnitOfWork, repo: OrdersRepository, order: Order, saga: CheckoutSaga
) -> None:
    """Money came in for a canceled order: refund it (a job), and say so in its history."""
    if saga.payment in {"refund_pending", "refunded"}:
        return
    set_step(saga, payment="refund_pending")
    record_history(
        repo,
        order,
        from_status=order.status,
        event="late_payment",
        actor=PAYMENTS_ACTOR,
        detail="The payment succeeded after the order was canceled: it is refunded automatically.",
    )
    uow.defer(step_job("refund_late_payment", order.id))


async def payment_ended(
    uow: UnitOfWork, *, order_id: uuid.UUID, reason: str, intent_canceled: bool
) -> None:
    """`payments.intent.failed` or `.canceled`: an unpaid order is canceled (compensated).
    Anything else (paid already, canceled already) is left as it is."""
    repo = OrdersRepository(uow.session)
    found = await locked(repo, order_id)
    if found is None:
        return
    order, saga = found
    if order.status == OrderStatus.PENDING_PAYMENT:
        await compensate(
            uow,
            repo,
            order,
            saga,
            reason=reason,
            actor=PAYMENTS_ACTOR,
            intent_canceled=intent_canceled,
        )
    elif intent_canceled and saga.payment == "cancel_pending":
        set_step(saga, payment="canceled")
