"""Reads with a replica configured: anonymous reads on the replica, a known caller's on the
primary (read-your-writes); commit listeners run once the replica has the commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mercato.platform.config import Settings
from mercato.platform.db.database import Database, create_engine, read_own_writes
from mercato.platform.db.replica import after_replica_replay


@pytest.fixture
async def replicated(settings: Settings) -> AsyncIterator[Database]:
    """Two engines on the test database: one stands for the replica (read-only sessions)."""
    assert settings.database.url is not None
    url = settings.database.url.get_secret_value()
    database = Database(
        create_engine(url, settings.database),
        create_engine(url, settings.database, read_only=True),
        replica_wait_s=0.2,
    )
    try:
        yield database
    finally:
        await database.dispose()


async def test_anonymous_reads_use_the_replica(replicated: Database) -> None:
    async with replicated.read_session() as session:
        assert session.bind is replicated.replica


async def test_a_known_callers_reads_stay_on_the_primary_for_the_request(
    replicated: Database,
) -> None:
    async def request() -> object:
        read_own_writes()  # what the auth dependency does once the token is checked
        async with replicated.read_session() as session:
            return session.bind

    # Each request runs in a task of its own (uvicorn's), so the mark does not outlive it.
    assert await asyncio.create_task(request()) is replicated.primary
    async with replicated.read_session() as session:
        assert session.bind is replicated.replica


async def test_listeners_run_once_when_the_replica_has_the_commit(replicated: Database) -> None:
    """On a server that is not a standby there is nothing to wait for: one notification."""
    notified: list[int] = []

    async def notify() -> None:
        notified.append(1)

    await after_replica_replay(replicated, notify)
    assert notified == [1]
