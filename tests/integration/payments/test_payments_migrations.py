"""The payments service's own history: up, down to nothing and up again; its models agree
with the migrated schema."""

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


async def tables_and_indexes(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = $1"
            " UNION ALL SELECT indexname FROM pg_indexes WHERE schemaname = $1",
            SCHEMA,
        )
        return {row["name"] for row in rows}
    finally:
        await connection.close()


async def test_the_history_goes_up_down_and_up_again(empty_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, empty_database, history=HISTORY)
    migrated = await tables_and_indexes(empty_database)
    assert "uq_payments_webhook_attempt_delivery_number" in migrated

    await asyncio.to_thread(migrations.downgrade, empty_database, "p0001", history=HISTORY)
    assert "ix_payments_webhook_attempt_delivery_id" in await tables_and_indexes(empty_database)
    await asyncio.to_thread(migrations.downgrade, empty_database, "base", history=HISTORY)
    assert await tables_and_indexes(empty_database) <= {"alembic_version", "alembic_version_pkc"}

    await asyncio.to_thread(migrations.upgrade, empty_database, history=HISTORY)
    assert await tables_and_indexes(empty_database) == migrated


async def test_the_models_agree_with_the_migrated_schema(empty_database: str) -> None:
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
                    MigrationContext.configure(sync, opts={"include_name": migrations.is_managed}),
                    service_metadata(),
                )
            )
    finally:
        await engine.dispose()
    assert differences == []
