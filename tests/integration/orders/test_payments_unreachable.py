"""Payments unreachable at checkout: the order is placed and keeps its stock, the answer
says the payment step is pending, and the saga's job is queued to create the intent; the
breaker then skips the dead service without waiting."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mercato.modules import MODULES
from mercato.orders.errors import PaymentsUnavailable
from mercato.orders.saga_payments import create_intent_step, retry_create_intent_later
from mercato.platform.config import Settings
from mercato.platform.ids import uuid7
from mercato.platform.runtime import open_runtime
from tests.e2e.conftest import free_port
from tests.integration.orders.conftest import Shop, orders_settings


@pytest.fixture
async def cut_off_shop(
    shop_settings: Settings, orders_database_url: str, orders_data_dir: Path
) -> AsyncIterator[Shop]:
    """The shop with the payments service's address pointing at a closed port."""
    settings = orders_settings(
        orders_database_url,
        orders_data_dir,
        payments_url=f"http://127.0.0.1:{free_port()}",
        payments_log=None,
        payments_max_tries=3,
        payments_breaker_failures=3,
        payments_breaker_reset_s=60,
    )
    async with open_runtime(settings, MODULES) as runtime:
        yield Shop(runtime)


async def test_an_unreachable_payments_service_leaves_the_order_pending_with_a_job_to_retry(
    cut_off_shop: Shop,
) -> None:
    shop = cut_off_shop
    variant = await shop.variant(on_hand=2)
    customer = uuid7()
    await shop.ready_cart(customer, {variant: 1})
    placed = await shop.checkout(customer)
    assert placed.order_id is not None

    with pytest.raises(PaymentsUnavailable):
        await create_intent_step(
            shop.runtime.unit_of_work, shop.orders.payments, order_id=placed.order_id
        )
    await retry_create_intent_later(
        shop.runtime.unit_of_work(), order_id=placed.order_id, error="payments unreachable"
    )

    assert await shop.stock(variant) == (2, 1)  # still held for the customer
    saga = await shop.scalar(
        "SELECT row(payment, attempts, last_error)::text FROM orders_checkout_saga"
        " WHERE order_id = :id",
        id=placed.order_id,
    )
    assert saga == '(intent_pending,1,"payments unreachable")'
    jobs = await shop.scalar(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'orders:create_intent'"
        " AND status = 'todo' AND args->>'order_id' = :id",
        id=str(placed.order_id),
    )
    assert jobs == 1

    # Three tries failed: the breaker is open, the next call does not even try.
    assert shop.orders.payments.breaker.is_open
    started = time.monotonic()
    with pytest.raises(PaymentsUnavailable):
        await create_intent_step(
            shop.runtime.unit_of_work, shop.orders.payments, order_id=placed.order_id
        )
    assert time.monotonic() - started < 0.5
