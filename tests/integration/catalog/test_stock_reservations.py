"""The catalog's surface for orders: sellable variants, and stock reserved, released and
committed inside the caller's unit of work, on real PostgreSQL with real commits."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mercato.catalog import (
    OutOfStock,
    StockLine,
    StockNotReserved,
    commit_stock,
    release_stock,
    reserve_stock,
    sellable_variants,
)
from mercato.catalog.models import (
    Product,
    ProductOption,
    Variant,
    VariantPrice,
    VariantStock,
)
from mercato.catalog.summary import refresh_product
from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.ids import uuid7
from tests.integration.catalog.conftest import empty_catalog_tables


@dataclass(frozen=True, slots=True)
class VariantSpec:
    sku: str
    on_hand: int
    prices: dict[str, int]
    values: tuple[str, ...] = ()
    status: str = "active"


async def make_product(
    database: Database,
    variants: Sequence[VariantSpec],
    *,
    options: Sequence[str] = (),
    status: str = "active",
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A product with options and variants, written as the admin use cases do."""
    product_id = uuid7()
    variant_ids = [uuid7() for _ in variants]
    async with UnitOfWork(database) as uow:
        session = uow.session
        session.add(
            Product(id=product_id, slug=f"p-{product_id.hex[:12]}", name="Tee", status=status)
        )
        await session.flush()
        for position, name in enumerate(options):
            values = sorted({spec.values[position] for spec in variants})
            session.add(
                ProductOption(
                    id=uuid7(), product_id=product_id, name=name, position=position, values=values
                )
            )
        for variant_id, spec in zip(variant_ids, variants, strict=True):
            session.add(
                Variant(
                    id=variant_id,
                    product_id=product_id,
                    sku=spec.sku,
                    option_values=list(spec.values),
                    status=spec.status,
                )
            )
        await session.flush()
        for variant_id, spec in zip(variant_ids, variants, strict=True):
            session.add(VariantStock(variant_id=variant_id, on_hand=spec.on_hand))
            for currency, amount in spec.prices.items():
                session.add(
                    VariantPrice(variant_id=variant_id, currency=currency, amount_minor=amount)
                )
        await session.flush()
        await refresh_product(session, product_id)
        await uow.commit()
    return product_id, variant_ids


@pytest.fixture
async def live_database(settings: Settings) -> AsyncIterator[Database]:
    """Real commits (concurrent transactions must see each other); tables emptied."""
    await empty_catalog_tables(settings)
    database = Database.from_settings(settings.database)
    try:
        yield database
    finally:
        await database.dispose()
        await empty_catalog_tables(settings)


async def stock_of(database: Database, variant_id: uuid.UUID) -> tuple[int, int]:
    async with database.session() as session:
        row = (
            await session.execute(
                select(VariantStock.on_hand, VariantStock.reserved).where(
                    VariantStock.variant_id == variant_id
                )
            )
        ).one()
    return row.on_hand, row.reserved


async def in_stock(database: Database, product_id: uuid.UUID) -> bool:
    async with database.session() as session:
        return bool(await session.scalar(select(Product.in_stock).where(Product.id == product_id)))


async def reserve(database: Database, lines: Sequence[StockLine]) -> None:
    async with UnitOfWork(database) as uow:
        await reserve_stock(uow, lines)
        await uow.commit()


def sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:10]}"


async def test_sellable_variants_carry_the_price_in_the_currency_asked(
    live_database: Database,
) -> None:
    product_id, (medium, large) = await make_product(
        live_database,
        [
            VariantSpec(sku(), 4, {"EUR": 1900, "USD": 2100}, ("M", "Red")),
            VariantSpec(sku(), 0, {"EUR": 2100}, ("L", "Red")),
        ],
        options=("Size", "Colour"),
    )
    unknown = uuid.uuid4()
    async with live_database.session() as session:
        found = await sellable_variants(session, [medium, large, unknown], currency="USD")
    assert set(found) == {medium, large}
    assert found[medium].unit_price_minor == 2100
    assert found[medium].title == "M / Red"
    assert found[medium].available_quantity == 4
    assert found[medium].product_id == product_id
    assert found[medium].purchasable is True
    assert found[large].unit_price_minor is None  # no USD price
    assert found[large].available_quantity == 0


async def test_sellable_variants_is_one_statement(
    engine: AsyncEngine, live_database: Database
) -> None:
    _, variant_ids = await make_product(
        live_database,
        [VariantSpec(sku(), 1, {"EUR": 100}, (str(n),)) for n in range(5)],
        options=("Number",),
    )
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    async with engine.connect() as counted:
        event.listen(counted.sync_connection, "before_cursor_execute", count)
        async with AsyncSession(bind=counted) as session:
            found = await sellable_variants(session, variant_ids, currency="EUR")
    assert len(found) == 5
    assert len(statements) == 1
    assert {variant.title for variant in found.values()} == {"0", "1", "2", "3", "4"}


async def test_a_default_variant_has_no_title(live_database: Database) -> None:
    _, (variant,) = await make_product(live_database, [VariantSpec(sku(), 1, {"EUR": 100})])
    async with live_database.session() as session:
        found = await sellable_variants(session, [variant], currency="EUR")
    assert found[variant].title == ""


async def test_deleted_and_archived_variants(live_database: Database) -> None:
    _product_id, (kept, archived, deleted) = await make_product(
        live_database,
        [
            VariantSpec(sku(), 1, {"EUR": 100}, ("S",)),
            VariantSpec(sku(), 1, {"EUR": 100}, ("M",), status="archived"),
            VariantSpec(sku(), 1, {"EUR": 100}, ("L",)),
        ],
        options=("Size",),
    )
    async with live_database.session() as session, session.begin():
        await session.execute(
            text("UPDATE catalog_variant SET deleted_at = now() WHERE id = :id"), {"id": deleted}
        )
    async with live_database.session() as session:
        found = await sellable_variants(session, [kept, archived, deleted], currency="EUR")
    assert set(found) == {kept, archived}
    assert found[kept].purchasable is True
    assert found[archived].purchasable is False
    with pytest.raises(OutOfStock) as refused:
        await reserve(live_database, [StockLine(deleted, 1)])
    assert refused.value.variant_ids == [deleted]


async def test_reserve_release_commit(live_database: Database) -> None:
    _product_id, (variant,) = await make_product(live_database, [VariantSpec(sku(), 5, {"EUR": 1})])
    await reserve(live_database, [StockLine(variant, 2), StockLine(variant, 1)])  # merged
    assert await stock_of(live_database, variant) == (5, 3)

    async with UnitOfWork(live_database) as uow:
        await release_stock(uow, [StockLine(variant, 1)])
        await uow.commit()
    assert await stock_of(live_database, variant) == (5, 2)

    async with UnitOfWork(live_database) as uow:
        await commit_stock(uow, [StockLine(variant, 2)])
        await uow.commit()
    assert await stock_of(live_database, variant) == (3, 0)

    for refused_call in (release_stock, commit_stock):
        async with UnitOfWork(live_database) as uow:
            with pytest.raises(StockNotReserved) as refused:
                await refused_call(uow, [StockLine(variant, 1)])
        assert refused.value.variant_ids == [variant]
    assert await stock_of(live_database, variant) == (3, 0)


async def test_a_reservation_is_all_or_nothing(live_database: Database) -> None:
    _, (plenty, scarce) = await make_product(
        live_database,
        [VariantSpec(sku(), 10, {"EUR": 1}, ("A",)), VariantSpec(sku(), 1, {"EUR": 1}, ("B",))],
        options=("Kind",),
    )
    with pytest.raises(OutOfStock) as refused:
        await reserve(live_database, [StockLine(plenty, 3), StockLine(scarce, 2)])
    assert refused.value.variant_ids == [scarce]
    assert refused.value.code == "out-of-stock"
    assert await stock_of(live_database, plenty) == (10, 0)
    assert await stock_of(live_database, scarce) == (1, 0)


async def test_the_last_units_turn_the_product_out_of_stock_and_back(
    live_database: Database,
) -> None:
    product_id, (first, second) = await make_product(
        live_database,
        [VariantSpec(sku(), 1, {"EUR": 1}, ("A",)), VariantSpec(sku(), 2, {"EUR": 1}, ("B",))],
        options=("Kind",),
    )
    await reserve(live_database, [StockLine(first, 1)])
    assert await in_stock(live_database, product_id) is True
    await reserve(live_database, [StockLine(second, 2)])
    assert await in_stock(live_database, product_id) is False
    async with UnitOfWork(live_database) as uow:
        await release_stock(uow, [StockLine(second, 1)])
        await uow.commit()
    assert await in_stock(live_database, product_id) is True


async def test_reserving_publishes_the_stock_change_in_the_same_transaction(
    live_database: Database,
) -> None:
    product_id, (variant,) = await make_product(live_database, [VariantSpec(sku(), 3, {"EUR": 1})])
    count_query = text(
        "SELECT count(*) FROM platform_outbox WHERE name = 'catalog.product.changed'"
        " AND envelope->'payload'->>'change' = 'stock' AND aggregate_id = :product_id"
    )

    async def published() -> int:
        async with live_database.session() as session:
            return int(await session.scalar(count_query, {"product_id": str(product_id)}) or 0)

    async with UnitOfWork(live_database) as uow:
        await reserve_stock(uow, [StockLine(variant, 1)])
        # Rolled back with the caller's unit of work: no event, no reservation.
    assert await published() == 0
    assert await stock_of(live_database, variant) == (3, 0)

    await reserve(live_database, [StockLine(variant, 1)])
    assert await published() == 1


async def test_concurrent_reservations_never_oversell(live_database: Database) -> None:
    _, (variant,) = await make_product(live_database, [VariantSpec(sku(), 7, {"EUR": 1})])

    async def attempt() -> bool:
        try:
            await reserve(live_database, [StockLine(variant, 1)])
        except OutOfStock:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(25)))
    assert sum(results) == 7
    assert await stock_of(live_database, variant) == (7, 7)


async def test_overlapping_multi_line_reservations_do_not_deadlock(
    live_database: Database,
) -> None:
    specs = [VariantSpec(sku(), 1000, {"EUR": 1}, (str(n),)) for n in range(4)]
    _, variant_ids = await make_product(live_database, specs, options=("Number",))
    rng = random.Random(7)
    orders = []
    for _ in range(24):
        chosen = rng.sample(variant_ids, k=3)  # each in its own (random) order
        orders.append([StockLine(variant_id, 2) for variant_id in chosen])

    async def place(lines: list[StockLine]) -> None:
        async with UnitOfWork(live_database) as uow:
            await reserve_stock(uow, lines)
            await asyncio.sleep(0.005)  # hold the locks a while: overlaps happen
            await uow.commit()

    await asyncio.wait_for(asyncio.gather(*(place(lines) for lines in orders)), timeout=60)
    for variant_id in variant_ids:
        expected = sum(
            line.quantity for lines in orders for line in lines if line.variant_id == variant_id
        )
        assert await stock_of(live_database, variant_id) == (1000, expected)
