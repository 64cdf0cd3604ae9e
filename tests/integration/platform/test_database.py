"""Engines carry the configured timeouts; read sessions go to the replica when set."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mercato.platform.config import DatabaseSettings
from mercato.platform.db.database import Database


@pytest.fixture
async def database_with_replica(database_url: str) -> Database:
    # The "replica" is the same server: enough to prove routing and read-only sessions.
    settings = DatabaseSettings(
        url=database_url, read_url=database_url, statement_timeout_ms=1234, lock_timeout_ms=567
    )
    return Database.from_settings(settings)


async def test_connections_carry_the_configured_timeouts(
    database_with_replica: Database,
) -> None:
    try:
        async with database_with_replica.session() as session:
            statement = await session.scalar(text("SHOW statement_timeout"))
            lock = await session.scalar(text("SHOW lock_timeout"))
            name = await session.scalar(text("SHOW application_name"))
    finally:
        await database_with_replica.dispose()
    assert (statement, lock, name) == ("1234ms", "567ms", "mercato")


async def test_read_sessions_use_the_read_only_replica(database_with_replica: Database) -> None:
    try:
        async with database_with_replica.read_session() as session:
            assert await session.scalar(text("SHOW default_transaction_read_only")) == "on"
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await session.execute(text("CREATE TEMP TABLE nope (id int)"))
        async with database_with_replica.session() as session:
            assert await session.scalar(text("SHOW default_transaction_read_only")) == "off"
    finally:
        await database_with_replica.dispose()


async def test_without_replica_reads_go_to_the_primary(database_url: str) -> None:
    database = Database.from_settings(DatabaseSettings(url=database_url))
    try:
        assert database.replica is None
        async with database.read_session() as session:
            assert session.bind is database.primary
            assert await session.scalar(text("SHOW default_transaction_read_only")) == "off"
    finally:
        await database.dispose()
