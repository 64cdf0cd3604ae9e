"""Orders fixtures: a database of their own whose commits are real (checkouts run
concurrently on many connections; the saga's consumers and jobs commit on their own), the
real payments service with the sandbox provider, and the API's runtime and worker wired to
it (service tokens signed by the API's keys, payments' events read from its own log)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from mercato.catalog.products import create_product
from mercato.catalog.write_schemas import ProductIn
from mercato.modules import MODULES
from mercato.orders import carts, shipping
from mercato.orders.addresses import ShippingAddress, seal_address
from mercato.orders.carts import CART_TABLE, CartLimits, CartOwner
from mercato.orders.checkout import Checkout, Placed, place_order
from mercato.orders.config import OrdersSettings
from mercato.orders.services import OrdersServices
from mercato.platform.config import EventSettings, JobSettings, Settings
from mercato.platform.db import migrations
from mercato.platform.db.database import Database
from mercato.platform.idempotency import KeyClaim
from mercato.platform.ids import uuid7
from mercato.platform.runtime import Runtime, open_runtime
from mercato.platform.server import build_worker
from tests.conftest import create_database, drop_database, make_settings
from tests.support.payments_service import PaymentsService, payments_service

LIMITS = CartLimits(max_line_quantity=20, max_cart_lines=50)
ADDRESS = ShippingAddress(
    name="Ada Lovelace", line1="12 rue des Lilas", city="Lyon", postal_code="69003", country="FR"
)
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
async def orders_database_url(postgres_server: str) -> AsyncIterator[str]:
    url = await create_database(postgres_server, prefix="orders_test")
    await asyncio.to_thread(migrations.upgrade, url)
    try:
        yield url
    finally:
        await drop_database(postgres_server, url)


@pytest.fixture(scope="session")
def orders_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("orders-data")
    (data_dir / "keys").mkdir()
    return data_dir


@pytest.fixture(scope="session")
async def payments(postgres_server: str, orders_data_dir: Path) -> AsyncIterator[PaymentsService]:
    """The payments service trusting the API's signing keys (the same key ring file)."""
    async with payments_service(postgres_server, orders_data_dir / "keys") as service:
        yield service


def orders_settings(
    database_url: str, data_dir: Path, *, payments_url: str, payments_log: str | None, **own: object
) -> Settings:
    settings = make_settings(
        database_url,
        data_dir=data_dir,
        jobs=JobSettings(stalled_worker_timeout_s=300.0, poll_interval_s=0.2),
        events=EventSettings(
            source_urls={"payments": payments_log} if payments_log else {}, poll_interval_s=0.1
        ),
    )
    database = settings.database.model_copy(
        update={
            "pool_size": 20,
            "max_overflow": 10,
            "pool_timeout_s": 60.0,
            "statement_timeout_ms": 30_000,
        }
    )
    defaults: dict[str, object] = {
        "payments_url": payments_url,
        "payments_max_tries": 2,
        "payments_backoff_initial_s": 0.01,
        "payments_backoff_max_s": 0.05,
        "payments_connect_timeout_s": 0.5,
        "payments_read_timeout_s": 5.0,
        "saga_stale_after_s": 1,
    }
    return settings.model_copy(update={"database": database}).with_section(
        OrdersSettings(**(defaults | own))  # type: ignore[arg-type]
    )


@dataclass
class Shop:
    """The API's runtime for orders tests, and helpers that build what a checkout needs."""

    runtime: Runtime

    @property
    def database(self) -> Database:
        return self.runtime.database

    @property
    def orders(self) -> OrdersServices:
        return self.runtime.services(OrdersServices)

    async def variant(self, *, on_hand: int, price_minor: int = 1_000) -> uuid.UUID:
        """The default variant of a new active product, `on_hand` units at `price_minor`
        EUR (made by the catalog's own use case)."""
        number = next(_numbers)
        tag = uuid.uuid4().hex[:8]
        product_id = await create_product(
            ProductIn(
                slug=f"orders-{number}-{tag}",
                name=f"Orders product {number}",
                status="active",
                sku=f"ORD-{number:06}-{tag}",
                price_minor=price_minor,
                currency="EUR",
                on_hand=on_hand,
            ),
            uow=self.runtime.unit_of_work(),
        )
        variant_id = await self.scalar(
            "SELECT id FROM catalog_variant WHERE product_id = :id", id=product_id
        )
        assert isinstance(variant_id, uuid.UUID)
        return variant_id

    async def stock(self, variant_id: uuid.UUID) -> tuple[int, int]:
        """(on_hand, reserved) of a variant."""
        async with self.database.session() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT on_hand, reserved FROM catalog_variant_stock WHERE variant_id = :id"
                    ),
                    {"id": variant_id},
                )
            ).one()
        return int(row[0]), int(row[1])

    async def ready_cart(self, customer_id: uuid.UUID, lines: dict[uuid.UUID, int]) -> None:
        owner = CartOwner.customer(customer_id)
        for variant_id, quantity in lines.items():
            await carts.add_line(
                self.runtime.unit_of_work(),
                owner=owner,
                variant_id=variant_id,
                quantity=quantity,
                currency="EUR",
                limits=LIMITS,
            )
        await carts.set_shipping(
            self.runtime.unit_of_work(),
            owner=owner,
            address=ADDRESS,
            method_code="standard",
            field_keys=self.orders.field_keys,
        )

    async def ready_carts(self, carts_by_customer: dict[uuid.UUID, dict[uuid.UUID, int]]) -> None:
        """Many carts at once, written straight into the tables (what `ready_cart` makes
        through the use cases, one by one, for a load test's setup)."""
        async with self.database.session() as session, session.begin():
            method_id = await session.scalar(
                text("SELECT id FROM orders_shipping_method WHERE code = 'standard'")
            )
            for customer, lines in carts_by_customer.items():
                cart_id = uuid7()
                sealed = seal_address(
                    self.orders.field_keys, ADDRESS, table=CART_TABLE, row_id=cart_id
                )
                await session.execute(
                    text(
                        "INSERT INTO orders_cart (id, customer_id, currency, shipping_method_id,"
                        " shipping_country, shipping_address_encrypted)"
                        " VALUES (:id, :customer, 'EUR', :method, 'FR', CAST(:sealed AS jsonb))"
                    ),
                    {
                        "id": cart_id,
                        "customer": customer,
                        "method": method_id,
                        "sealed": json.dumps(sealed),
                    },
                )
                for variant_id, quantity in lines.items():
                    await session.execute(
                        text(
                            "INSERT INTO orders_cart_line (cart_id, variant_id, quantity,"
                            " added_unit_price_minor) SELECT :cart, variant_id, :q, amount_minor"
                            " FROM catalog_variant_price WHERE variant_id = :v AND currency = 'EUR'"
                        ),
                        {"cart": cart_id, "v": variant_id, "q": quantity},
                    )

    async def checkout(
        self,
        customer_id: uuid.UUID,
        *,
        key: str | None = None,
        max_pending_orders: int | None = None,
    ) -> Placed:
        key = key or uuid.uuid4().hex
        claim = KeyClaim(f"orders:{customer_id}", key, hashlib.sha256(key.encode()).digest())
        return await place_order(
            Checkout(customer_id, None, dt.timedelta(seconds=900), max_pending_orders),
            uow=self.runtime.unit_of_work(),
            claim=claim,
            field_keys=self.orders.field_keys,
            render=_render,
        )

    async def execute(self, sql: str, **params: object) -> None:
        async with self.database.session() as session, session.begin():
            await session.execute(text(sql), params)

    async def scalar(self, sql: str, **params: object) -> object:
        async with self.database.session() as session:
            return await session.scalar(text(sql), params)


def _render(order_id: uuid.UUID) -> Response:
    return JSONResponse({"id": str(order_id)}, status_code=201)


@pytest.fixture(scope="session")
async def shop_settings(
    orders_database_url: str, orders_data_dir: Path, payments: PaymentsService
) -> Settings:
    settings = orders_settings(
        orders_database_url,
        orders_data_dir,
        payments_url=payments.base_url,
        payments_log=payments.database_url,
    )
    await _shipping_setup(settings)
    return settings


async def _shipping_setup(settings: Settings) -> None:
    async with open_runtime(settings, MODULES) as runtime:
        async with runtime.database.session() as session:
            exists = await session.scalar(
                text("SELECT 1 FROM orders_shipping_method WHERE code = 'standard'")
            )
        if exists is None:
            await shipping.create_shipping_method(
                runtime.unit_of_work(),
                code="standard",
                name="Standard",
                prices={"EUR": 500},
                active=True,
            )
            await shipping.set_tax_rate(runtime.unit_of_work(), country="FR", rate_bp=2000)


@pytest.fixture
async def shop(shop_settings: Settings) -> AsyncIterator[Shop]:
    """The API's runtime (no worker: tests that need the saga to move start one)."""
    async with open_runtime(shop_settings, MODULES) as runtime:
        yield Shop(runtime)


@pytest.fixture
async def running_worker(shop: Shop) -> AsyncIterator[None]:
    """The API's worker (relay, payments' events, saga jobs) in the background."""
    stop = asyncio.Event()
    worker = asyncio.create_task(build_worker(shop.runtime).run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
