"""Compiled reads (`platform.db.compiled`) sent through the driver: rows by label, inside
the caller's transaction, and driver errors mapped as SQLAlchemy's are."""

from __future__ import annotations

import pytest
from sqlalchemy import Float, Integer, String, bindparam, column, func, literal, select, table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.platform.config import DatabaseSettings, Settings
from mercato.platform.db.compiled import compile_query
from mercato.platform.db.database import ConnectionBoundDatabase, Database, create_engine

ITEMS = table("compiled_items", column("name", String()), column("price", Integer()))


async def test_rows_come_by_label_from_inside_the_open_transaction(
    connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    await connection.execute(text("CREATE TEMP TABLE compiled_items (name text, price int)"))
    await connection.execute(text("INSERT INTO compiled_items VALUES ('a', 1), ('b', 2)"))
    query = database.queries.get(
        "items-from",
        lambda: (
            select(ITEMS.c.name, ITEMS.c.price)
            .where(ITEMS.c.price >= bindparam("min_price", type_=Integer()))
            .order_by(ITEMS.c.price)
        ),
    )
    assert await database.read_rows(query, {"min_price": 2}) == [{"name": "b", "price": 2}]
    assert len(await database.read_rows(query, {"min_price": 0})) == 2


async def test_a_timeout_is_a_transient_database_error_and_the_pool_stays_sound(
    settings: Settings,
) -> None:
    assert settings.database.url is not None
    engine = create_engine(
        settings.database.url.get_secret_value(),
        DatabaseSettings(url=settings.database.url, statement_timeout_ms=100, pool_size=1),
    )
    database = Database(engine)
    try:
        sleep = compile_query(
            select(func.pg_sleep(bindparam("seconds", type_=Float()))), engine.dialect
        )
        with pytest.raises(DBAPIError) as raised:
            await database.read_rows(sleep, {"seconds": 2})
        assert getattr(raised.value.orig, "sqlstate", None) == "57014"  # → 503 (problems.py)
        assert not raised.value.connection_invalidated
        one = compile_query(select(literal(1).label("one")), engine.dialect)
        for _ in range(3):  # the one pooled connection went back in good order
            assert await database.read_rows(one, {}) == [{"one": 1}]
    finally:
        await engine.dispose()


async def test_a_custom_planned_read_is_planned_for_its_values_and_leaves_nothing_behind(
    settings: Settings,
) -> None:
    assert settings.database.url is not None
    engine = create_engine(
        settings.database.url.get_secret_value(),
        DatabaseSettings(url=settings.database.url, pool_size=1, max_overflow=0),
    )
    database = Database(engine)
    mode = select(func.current_setting("plan_cache_mode").label("mode"))
    try:
        custom = compile_query(mode, engine.dialect, custom_plans=True)
        plain = compile_query(mode.where(literal(1) == 1), engine.dialect)
        for _ in range(3):  # the same pooled connection each time (pool of one)
            assert await database.read_rows(custom, {}) == [{"mode": "force_custom_plan"}]
            # Its transaction ended: the setting and the read-only mode are gone.
            assert await database.read_rows(plain, {}) == [{"mode": "auto"}]
        async with database.session() as session, session.begin():
            assert await session.scalar(
                text("SELECT NOT current_setting('transaction_read_only')::bool")
            )
    finally:
        await engine.dispose()


async def test_a_database_from_settings_plans_custom_reads_on_connections_set_for_it(
    settings: Settings,
) -> None:
    database = Database.from_settings(settings.database)
    mode = select(func.current_setting("plan_cache_mode").label("mode"))
    try:
        custom = compile_query(mode, database.primary.dialect, custom_plans=True)
        plain = compile_query(mode.where(literal(1) == 1), database.primary.dialect)
        for _ in range(3):
            assert await database.read_rows(custom, {}) == [{"mode": "force_custom_plan"}]
            # The main pool's connections keep PostgreSQL's default.
            assert await database.read_rows(plain, {}) == [{"mode": "auto"}]
    finally:
        await database.dispose()
