"""The payments service's own history: up, all the way down, up again, in its own schema,
next to the API's; and its tables as the models say."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from mercato.payments.schema import HISTORY, SCHEMA, service_metadata
from mercato.platform.config import normalise_database_url
from mercato.platform.db import migrations
from tests.conftest import create_database, drop_database


@pytest.fixture
async def empty_database(postgres_server: str) -> AsyncIterator[str]:
    url = await create_database(postgres_server, prefix="payments_migrations")
    try:
        yield url
    finally:
        await drop_database(postgres_server, url)


async def tables_by_schema(url: str) -> dict[str, set[str]]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('public', 'payments')"
        )
    finally:
        await connection.close()
    found: dict[str, set[str]] = {"public": set(), "payments": set()}
    for row in rows:
        found[row["schemaname"]].add(row["tablename"])
    return found


async def test_up_down_up_in_its_own_schema_beside_the_api(empty_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, empty_database)
    api_tables = (await tables_by_schema(empty_database))["public"]
    await asyncio.to_thread(migrations.upgrade, empty_database, history=HISTORY)
    migrated = await tables_by_schema(empty_database)
    assert migrated["public"] == api_tables  # the API's schema is untouched
    assert {"payments_intent", "platform_outbox", "procrastinate_jobs", "alembic_version"} <= (
        migrated["payments"]
    )
    head = migrations.head_revision(HISTORY)
    assert await migrations.current_revision(empty_database, history=HISTORY) == head

    await asyncio.to_thread(migrations.downgrade, empty_database, "base", history=HISTORY)
    emptied = await tables_by_schema(empty_database)
    assert emptied["payments"] == {"alembic_version"}
    assert emptied["public"] == api_tables
    assert await migrations.current_revision(empty_database, history=HISTORY) is None

    await asyncio.to_thread(migrations.upgrade, empty_database, history=HISTORY)
    assert await tables_by_schema(empty_database) == migrated


async def test_models_and_the_payments_history_agree(empty_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, empty_database, history=HISTORY)
    engine = create_async_engine(
        normalise_database_url(empty_database),
        poolclass=NullPool,
        connect_args=migrations.search_path(SCHEMA),
    )
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync,
                        opts={
                            "include_name": lambda name, type_, *_: (
                                migrations.is_managed(name, type_) and name != "alembic_version"
                            )
                        },
                    ),
                    service_metadata(),
                )
            )
    finally:
        await engine.dispose()
    assert differences == []


async def test_the_merchant_webhooks_revision_goes_down_and_up(empty_database: str) -> None:
    async def indexes() -> set[str]:
        connection = await asyncpg.connect(empty_database)
        try:
            rows = await connection.fetch(
                "SELECT indexname FROM pg_indexes WHERE schemaname = $1", SCHEMA
            )
        finally:
            await connection.close()
        return {row["indexname"] for row in rows}

    await asyncio.to_thread(migrations.upgrade, empty_database, history=HISTORY)
    assert "uq_payments_webhook_attempt_delivery_number" in await indexes()
    await asyncio.to_thread(migrations.downgrade, empty_database, "p0001", history=HISTORY)
    before = await indexes()
    assert "ix_payments_webhook_attempt_delivery_id" in before
    assert "uq_payments_webhook_attempt_delivery_number" not in before
    await asyncio.to_thread(migrations.upgrade, empty_database, history=HISTORY)
    assert "ix_payments_webhook_delivery_due" in await indexes()
