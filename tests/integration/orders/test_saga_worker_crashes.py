"""The API's worker (`mercato worker`, a real process) SIGKILLed again and again while the
saga runs: payments' events half-applied, compensation jobs half-done. After the last
restart every order ends where it must, each effect once: paid orders committed their
stock once, failed and expired ones released it once and their intents are canceled."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mercato.orders.saga_payments import create_intent_step
from mercato.orders.saga_sweeps import expire_overdue_orders
from mercato.platform.ids import uuid7
from tests.e2e.conftest import mercato_env
from tests.integration.orders.conftest import Shop
from tests.support.payments_service import PaymentsService

pytestmark = pytest.mark.e2e

PAID, DECLINED, EXPIRED = 5, 4, 3
KILLS = 4
SETTLE_BOUND_S = 120


class CrashingWorker:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with (self.log_dir / f"worker-{self.starts}.log").open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mercato", "worker"],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    async def started(self) -> None:
        """Until this run of the worker says it is up (a kill before then tests nothing)."""
        log = self.log_dir / f"worker-{self.starts}.log"
        for _ in range(600):
            if "worker_started" in log.read_text(errors="replace"):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the worker did not start")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait, 10)

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(self.process.wait, 40)


async def _order_with_intent(shop: Shop, variant: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    customer = uuid7()
    await shop.ready_cart(customer, {variant: 1})
    placed = await shop.checkout(customer)
    assert placed.order_id is not None
    intent = await create_intent_step(
        shop.runtime.unit_of_work, shop.orders.payments, order_id=placed.order_id
    )
    assert intent is not None
    return placed.order_id, intent.id


async def test_a_worker_killed_mid_saga_leaves_every_order_settled_once(
    shop: Shop,
    payments: PaymentsService,
    orders_database_url: str,
    orders_data_dir: Path,
    tmp_path: Path,
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    variant = await shop.variant(on_hand=PAID + DECLINED + EXPIRED)
    orders = [await _order_with_intent(shop, variant) for _ in range(PAID + DECLINED + EXPIRED)]
    paid, declined, expired = (
        orders[:PAID],
        orders[PAID : PAID + DECLINED],
        orders[PAID + DECLINED :],
    )
    worker = CrashingWorker(
        mercato_env(
            DATABASE_URL=orders_database_url,
            MERCATO_DATA_DIR=str(orders_data_dir),
            EVENTS_SOURCE_URLS=json.dumps({"payments": payments.database_url}),
            EVENTS_POLL_INTERVAL_S="0.2",
            JOBS_POLL_INTERVAL_S="0.5",
            ORDERS_PAYMENTS_URL=payments.base_url,
            # The sandbox's cancellation of a declined payment can take the payments
            # service a few seconds (its provider deadline): wait for it, and never let
            # the breaker keep a compensation waiting long.
            ORDERS_PAYMENTS_READ_TIMEOUT_S="15",
            ORDERS_PAYMENTS_BREAKER_RESET_S="1",
            LOG_LEVEL="INFO",
            LOG_ACCESS="false",
        ),
        tmp_path,
    )
    worker.start()
    try:
        for _, intent_id in paid:
            assert (await payments.confirm(str(intent_id), "pm_card_visa")).status_code == 200
        for _, intent_id in declined:
            await payments.confirm(str(intent_id), "pm_card_declined")
        ids = ", ".join(f"'{order_id}'" for order_id, _ in expired)
        await shop.execute(
            "UPDATE orders_order SET reserved_until = now() - interval '1 second'"
            f" WHERE id IN ({ids})"
        )
        assert await expire_overdue_orders(shop.runtime.unit_of_work) >= EXPIRED
        for _ in range(KILLS):
            await worker.started()
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            await worker.kill()
            worker.start()

        async def settled() -> bool:
            counts = await shop.scalar(
                "SELECT row(count(*) FILTER (WHERE o.status = 'paid' AND s.status = 'completed'),"
                " count(*) FILTER (WHERE o.status = 'canceled' AND s.status = 'compensated'))::text"
                " FROM orders_order o JOIN orders_checkout_saga s ON s.order_id = o.id"
                " JOIN orders_order_line l ON l.order_id = o.id WHERE l.variant_id = :v",
                v=variant,
            )
            return counts == f"({PAID},{DECLINED + EXPIRED})"

        deadline = asyncio.get_running_loop().time() + SETTLE_BOUND_S
        while not await settled():
            assert asyncio.get_running_loop().time() < deadline, f"not settled (seed {seed})"
            await asyncio.sleep(0.5)
    finally:
        await worker.stop()

    assert await shop.stock(variant) == (DECLINED + EXPIRED, 0), f"seed {seed}"
    for _, intent_id in declined + expired:
        assert (await payments.intent(str(intent_id)))["status"] == "canceled", f"seed {seed}"
    paid_events = await shop.scalar(
        "SELECT count(*) FROM platform_outbox WHERE name = 'orders.order.paid'"
        " AND aggregate_id = ANY(CAST(:ids AS text[]))",
        ids=[str(order_id) for order_id, _ in paid],
    )
    assert paid_events == PAID, f"seed {seed}"
