"""Migrations go up, all the way down and up again on a real database; models match them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from mercato.models import Base
from mercato.platform.config import normalise_database_url
from mercato.platform.db import migrations
from tests.conftest import create_database, drop_database


@pytest.fixture
async def empty_database(postgres_server: str) -> AsyncIterator[str]:
    url = await create_database(postgres_server, prefix="mercato_migrations")
    try:
        yield url
    finally:
        await drop_database(postgres_server, url)


async def schema_snapshot(url: str) -> dict[str, set[str]]:
    """Every kind of object a migration may create in the public schema."""
    queries = {
        "tables": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
        "indexes": "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'",
        "functions": "SELECT p.proname FROM pg_proc p JOIN pg_namespace n"
        " ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
        # Enums, and composite types that are not a table's row type.
        "types": "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
        " LEFT JOIN pg_class c ON c.oid = t.typrelid WHERE n.nspname = 'public'"
        " AND (t.typtype = 'e' OR c.relkind = 'c')",
        "extensions": "SELECT extname FROM pg_extension",
        "triggers": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
    }
    connection = await asyncpg.connect(url)
    try:
        return {
            kind: {row[0] for row in await connection.fetch(query)}
            for kind, query in queries.items()
        }
    finally:
        await connection.close()


async def test_upgrade_downgrade_upgrade_round_trip(empty_database: str) -> None:
    head = migrations.head_revision()

    before = await schema_snapshot(empty_database)

    await asyncio.to_thread(migrations.upgrade, empty_database)
    migrated = await schema_snapshot(empty_database)
    assert await migrations.current_revision(empty_database) == head
    assert "pg_trgm" in migrated["extensions"]
    assert {"platform_outbox", "procrastinate_jobs"} <= migrated["tables"]

    await asyncio.to_thread(migrations.downgrade, empty_database, "base")
    emptied = await schema_snapshot(empty_database)
    assert await migrations.current_revision(empty_database) is None
    # Nothing is left behind but Alembic's own bookkeeping.
    assert emptied["tables"] == {"alembic_version"}
    assert emptied["indexes"] == {"alembic_version_pkc"}
    for kind in ("functions", "types", "extensions", "triggers"):
        assert emptied[kind] == before[kind], kind

    await asyncio.to_thread(migrations.upgrade, empty_database)
    assert await schema_snapshot(empty_database) == migrated
    assert await migrations.current_revision(empty_database) == head


def ours(name: str | None, type_: str, *rest: object) -> bool:
    """Our managed objects, without the scratch tables other tests create (`test_*`)."""
    is_scratch = type_ == "table" and name is not None and name.startswith("test_")
    return migrations.is_managed(name, type_, *rest) and not is_scratch


async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_async_engine(normalise_database_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"include_name": ours}),
                    Base.metadata,
                )
            )
    finally:
        await engine.dispose()
    assert differences == []


def test_revision_files_follow_the_naming_convention() -> None:
    names = [path.name for path in (migrations.MAIN.location / "versions").glob("*.py")]
    assert names
    for name in names:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_[a-z0-9_]+\.py", name), name


async def test_a_concurrent_index_left_invalid_by_a_failed_build_is_built_again(
    empty_database: str,
) -> None:
    """0016 builds its index CONCURRENTLY: a build that failed leaves an INVALID index,
    which the next run drops and builds again (not skipped as already there)."""
    await asyncio.to_thread(migrations.upgrade, empty_database, "0015")
    connection = await asyncpg.connect(empty_database)
    try:
        await connection.execute(
            "CREATE INDEX ix_orders_order_customer_pending ON orders_order (customer_id)"
            " WHERE status = 'pending_payment'"
        )
        # What a failed CREATE INDEX CONCURRENTLY leaves behind.
        await connection.execute(
            "UPDATE pg_index SET indisvalid = false"
            " WHERE indexrelid = 'ix_orders_order_customer_pending'::regclass"
        )
        await asyncio.to_thread(migrations.upgrade, empty_database, "0016")
        valid = await connection.fetchval(
            "SELECT indisvalid FROM pg_index"
            " WHERE indexrelid = 'ix_orders_order_customer_pending'::regclass"
        )
    finally:
        await connection.close()
    assert valid is True
