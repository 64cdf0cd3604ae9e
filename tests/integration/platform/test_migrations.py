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

from mercato.platform.config import normalise_database_url
from mercato.platform.db import migrations
from mercato.platform.db.metadata import Base
from tests.conftest import create_database, drop_database


@pytest.fixture
async def empty_database(postgres_server: str) -> AsyncIterator[str]:
    url = await create_database(postgres_server, prefix="mercato_migrations")
    try:
        yield url
    finally:
        await drop_database(postgres_server, url)


async def schema_snapshot(url: str) -> tuple[set[str], set[str]]:
    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        extensions = await connection.fetch("SELECT extname FROM pg_extension")
    finally:
        await connection.close()
    return {row["table_name"] for row in tables}, {row["extname"] for row in extensions}


async def test_upgrade_downgrade_upgrade_round_trip(empty_database: str) -> None:
    head = migrations.head_revision()

    await asyncio.to_thread(migrations.upgrade, empty_database)
    first_tables, first_extensions = await schema_snapshot(empty_database)
    assert await migrations.current_revision(empty_database) == head
    assert "pg_trgm" in first_extensions

    await asyncio.to_thread(migrations.downgrade, empty_database, "base")
    tables, extensions = await schema_snapshot(empty_database)
    assert await migrations.current_revision(empty_database) is None
    assert tables == {"alembic_version"}
    assert "pg_trgm" not in extensions

    await asyncio.to_thread(migrations.upgrade, empty_database)
    assert await schema_snapshot(empty_database) == (first_tables, first_extensions)
    assert await migrations.current_revision(empty_database) == head


async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_async_engine(normalise_database_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []


def test_revision_files_follow_the_naming_convention() -> None:
    names = [path.name for path in (migrations.SCRIPT_LOCATION / "versions").glob("*.py")]
    assert names
    for name in names:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_[a-z0-9_]+\.py", name), name
