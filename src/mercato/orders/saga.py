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
from typing import Any

import structlog
from sqlalchemy import String, cast, column, func, literal, select, table

from mercato.catalog import StockLine, commit_stock, release_stock
from mercato.orders.events import OrderCanceled, OrderPaid, OrderRefunded
from mercato.orders.models import CheckoutSaga, Order, OrderHistory, OrderLine
from mercato.orders.payments_client import IntentView, PaymentsClient, PaymentsRefused
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


async def note_step_failure(uow: UnitOfWork, *, order_id: uuid.UUID, error: str) -> None:
    async with uow:
        saga = await OrdersRepository(uow.session).saga_for_update(order_id)
        if saga is not None:
            saga.attempts += 1
            saga.last_error = error[:200]
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


async def expire_overdue_orders(uow_factory: UowFactory, *, batch: int = 100) -> int:
    """Cancel unpaid orders whose reservation ended (compensation: stock back, intent
    canceled). Each order in a unit of work of its own; one that fails is logged and left
    for the next run, never in the way of the others. Returns how many expired."""
    expired = 0
    failed: set[uuid.UUID] = set()
    while True:
        async with uow_factory() as probe:
            query = (
                select(Order.id)
                .where(Order.status == OrderStatus.PENDING_PAYMENT.value)
                .where(Order.reserved_until < func.now())
                .order_by(Order.reserved_until)
                .limit(batch)
            )
            if failed:
                query = query.where(Order.id.notin_(failed))
            due = list(await probe.session.scalars(query))
        for order_id in due:
            try:
                expired += await _expire(uow_factory(), order_id)
            except Exception:  # the next run tries it again
                logger.exception("order_expiry_failed", order_id=str(order_id))
                failed.add(order_id)
        if len(due) < batch:
            return expired


async def _expire(uow: UnitOfWork, order_id: uuid.UUID) -> int:
    async with uow:
        repo = OrdersRepository(uow.session)
        found = await locked(repo, order_id)
        if found is None or found[0].status != OrderStatus.PENDING_PAYMENT:
            return 0
        await compensate(uow, repo, found[0], found[1], reason="expired", actor=EXPIRY_ACTOR)
        await uow.commit()
    return 1


def _live_job(order_id: Any) -> Any:
    jobs = table("procrastinate_jobs", column("lock"), column("status"))
    return (
        select(literal(1))
        .select_from(jobs)
        .where(jobs.c.lock == literal("orders-saga:") + cast(order_id, String))
        .where(jobs.c.status.in_(("todo", "doing")))
    )


async def resume_stale_sagas(uow_factory: UowFactory, *, stale_after_s: int) -> int:
    """Defer again the job of every step that waits longer than `stale_after_s` (its job
    was lost: the process died between the commit and the call, or the job failed for
    good). Returns how many were resumed."""
    async with uow_factory() as uow:
        waiting = list(
            await uow.session.scalars(
                select(CheckoutSaga)
                .where(CheckoutSaga.payment.in_(tuple(WAITING_STEPS)))
                .where(CheckoutSaga.updated_at < func.now() - dt.timedelta(seconds=stale_after_s))
                .order_by(CheckoutSaga.updated_at)
                .limit(500)
                .with_for_update(skip_locked=True)
            )
        )
        for saga in waiting:
            uow.defer(step_job(WAITING_STEPS[saga.payment], saga.order_id))
            saga.updated_at = utc_now()
        await uow.commit()
    return len(waiting)


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
