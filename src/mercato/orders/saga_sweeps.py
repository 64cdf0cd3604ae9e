"""The saga's periodic sweeps: unpaid orders whose reservation ended are canceled
(compensated), and steps whose job was lost are deferred again (the orchestrator resumes
after its own crash)."""

from __future__ import annotations

import datetime as dt
import uuid

import structlog
from sqlalchemy import func, select

from mercato.orders.models import CheckoutSaga, Order
from mercato.orders.repository import OrdersRepository
from mercato.orders.saga import (
    EXPIRY_ACTOR,
    WAITING_STEPS,
    UowFactory,
    compensate,
    locked,
    step_job,
)
from mercato.orders.states import OrderStatus
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork

logger = structlog.get_logger(__name__)


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
