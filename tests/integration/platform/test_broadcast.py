"""Signals between processes through PostgreSQL (`platform.db.broadcast`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from mercato.platform.config import Settings
from mercato.platform.db import broadcast
from mercato.platform.db.database import Database

HEARD_WITHIN_S = 5


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database.from_settings(settings.database)
    try:
        yield database
    finally:
        await database.dispose()


class Heard:
    def __init__(self) -> None:
        self.count = 0
        self._changed = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self._changed.set()

    async def at_least(self, count: int) -> None:
        async with asyncio.timeout(HEARD_WITHIN_S):
            while self.count < count:
                self._changed.clear()
                await self._changed.wait()


async def test_an_announcement_reaches_the_subscribers_of_its_topic_only(
    database: Database,
) -> None:
    catalog, other = Heard(), Heard()
    async with (
        broadcast.subscribed(database, "catalog", catalog),
        broadcast.subscribed(database, "other", other),
    ):
        await broadcast.announce(database, "catalog")
        await catalog.at_least(1)
        await asyncio.sleep(0.2)
    assert (catalog.count, other.count) == (1, 0)


async def test_a_listener_whose_connection_died_reconnects_and_calls_back_for_what_it_missed(
    database: Database,
) -> None:
    heard = Heard()
    async with broadcast.subscribed(database, "catalog", heard):
        async with database.primary.connect() as connection:
            killed = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE query LIKE 'LISTEN%' AND query LIKE :channel"
                    " AND datname = current_database()"
                ),
                {"channel": f"%{broadcast.CHANNEL}%"},
            )
        assert killed == 1
        await heard.at_least(1)  # the call back for signals lost while disconnected
        await broadcast.announce(database, "catalog")
        await heard.at_least(2)  # and it listens again
