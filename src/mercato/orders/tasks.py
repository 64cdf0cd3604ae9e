"""Orders' jobs: the saga's steps that call the payments service (retried until done),
the reservation expiry and the resume sweep (periodic), the guest cart cleanup.

A step job carries only the order id: no amount, no token, nothing personal. Every run is
safe: the step reads the saga's persisted state first and the payments calls carry keys
derived from the order id.
"""

from __future__ import annotations

import datetime as dt
import uuid

import procrastinate
import structlog
from sqlalchemy import delete, exists, func, or_

from mercato.orders import reencryption, saga, saga_payments, saga_sweeps
from mercato.orders.models import Cart, CartLine
from mercato.orders.services import OrdersServices
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.jobs.runtime import dependencies_of
from mercato.platform.runtime import Runtime

logger = structlog.get_logger(__name__)

# 2, 4, 8 … s between tries (about two hours in all); should a step still fail, the
# resume sweep defers it again: a compensation is retried until it succeeds.
STEP_RETRY = procrastinate.RetryStrategy(max_attempts=12, exponential_wait=2)


def blueprint() -> procrastinate.Blueprint:
    """A fresh blueprint (see `platform.jobs.tasks.blueprint`)."""
    tasks = procrastinate.Blueprint()
    for name, step in (
        ("create_intent", create_intent),
        ("cancel_intent", cancel_intent),
        ("refund_late_payment", refund_late_payment),
    ):
        tasks.task(name=name, queue=saga.SAGA_QUEUE, pass_context=True, retry=STEP_RETRY)(step)
    tasks.periodic(cron="* * * * *", periodic_id="expire-reservations")(
        tasks.task(name="expire_reservations", queue=saga.SAGA_QUEUE, pass_context=True)(
            expire_reservations
        )
    )
    tasks.periodic(cron="* * * * *", periodic_id="resume-sagas")(
        tasks.task(name="resume_sagas", queue=saga.SAGA_QUEUE, pass_context=True)(resume_sagas)
    )
    tasks.periodic(cron="29 3 * * *", periodic_id="reencrypt-addresses")(
        tasks.task(name="reencrypt_addresses", queue="maintenance", pass_context=True)(
            reencrypt_addresses
        )
    )
    tasks.periodic(cron="*/10 * * * *", periodic_id="forget-guest-carts")(
        tasks.task(name="forget_guest_carts", queue="maintenance", pass_context=True)(
            forget_guest_carts
        )
    )
    return tasks


def _runtime(context: procrastinate.JobContext) -> tuple[Runtime, OrdersServices]:
    runtime = dependencies_of(context).runtime
    return runtime, runtime.services(OrdersServices)


async def create_intent(context: procrastinate.JobContext, *, order_id: str) -> None:
    runtime, orders = _runtime(context)
    await saga_payments.create_intent_step(
        runtime.unit_of_work, orders.payments, order_id=uuid.UUID(order_id)
    )


async def cancel_intent(context: procrastinate.JobContext, *, order_id: str) -> None:
    runtime, orders = _runtime(context)
    await saga_payments.cancel_intent_step(
        runtime.unit_of_work, orders.payments, order_id=uuid.UUID(order_id)
    )


async def refund_late_payment(context: procrastinate.JobContext, *, order_id: str) -> None:
    runtime, orders = _runtime(context)
    await saga_payments.refund_late_payment_step(
        runtime.unit_of_work, orders.payments, order_id=uuid.UUID(order_id)
    )


async def expire_reservations(context: procrastinate.JobContext, timestamp: int) -> int:
    """Every minute: unpaid orders past `reserved_until` are canceled (stock back)."""
    runtime, _ = _runtime(context)
    expired = await saga_sweeps.expire_overdue_orders(runtime.unit_of_work)
    if expired:
        logger.info("orders_expired", count=expired)
    return expired


async def resume_sagas(context: procrastinate.JobContext, timestamp: int) -> int:
    runtime, orders = _runtime(context)
    resumed = await saga_sweeps.resume_stale_sagas(
        runtime.unit_of_work, stale_after_s=orders.settings.saga_stale_after_s
    )
    if resumed:
        logger.warning("checkout_sagas_resumed", count=resumed)
    return resumed


async def reencrypt_addresses(context: procrastinate.JobContext, timestamp: int) -> int:
    """Daily: shipping addresses under an old field key are rewritten under the current one."""
    runtime, orders = _runtime(context)
    rewritten = await reencryption.reencrypt_addresses(runtime.unit_of_work, orders.field_keys)
    if rewritten:
        logger.info("addresses_reencrypted", count=rewritten)
    return rewritten


async def forget_guest_carts(context: procrastinate.JobContext, timestamp: int) -> int:
    """Every ten minutes: guest carts untouched for `ORDERS_GUEST_CART_TTL_DAYS`, and empty
    ones for `ORDERS_EMPTY_GUEST_CART_TTL_S`, are deleted."""
    runtime, orders = _runtime(context)
    forgotten = await forget_stale_guest_carts(
        runtime.unit_of_work(),
        untouched_for=dt.timedelta(days=orders.settings.guest_cart_ttl_days),
        empty_for=dt.timedelta(seconds=orders.settings.empty_guest_cart_ttl_s),
    )
    if forgotten:
        logger.info("guest_carts_forgotten", count=forgotten)
    return forgotten


async def forget_stale_guest_carts(
    uow: UnitOfWork, *, untouched_for: dt.timedelta, empty_for: dt.timedelta
) -> int:
    """Delete the guest carts untouched for `untouched_for`, and those without a line
    untouched for `empty_for` (their lines go with them); how many went."""
    has_lines = exists().where(CartLine.cart_id == Cart.id)
    async with uow:
        result = await uow.session.execute(
            delete(Cart).where(
                Cart.token_hash.isnot(None),
                # The shorter limit bounds the scan of the guest carts' `updated_at` index.
                Cart.updated_at < func.now() - min(untouched_for, empty_for),
                or_(Cart.updated_at < func.now() - untouched_for, ~has_lines),
            )
        )
        await uow.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
