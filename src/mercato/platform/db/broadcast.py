"""Signals between processes that share only PostgreSQL: `NOTIFY` out, `LISTEN` in.

The default setup runs without Redis: `mercato serve` keeps its caches in memory, and a
`mercato catalog import` or a worker in another process changes what they hold. Such a
process announces a topic (`announce`); every process subscribed to it (`subscribed`) hears
it within milliseconds and drops what it cached. A signal is a hint, not a record: a
listener that lost its connection may have missed some, so it calls back once more when
it has reconnected, and the caches keep their TTL as the last line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Final

import asyncpg
import structlog
from sqlalchemy import func, select

from mercato.platform.db.database import Database
from mercato.platform.db.notify import close_quietly

logger = structlog.get_logger(__name__)

CHANNEL: Final = "mercato_broadcast"
RECONNECT_DELAYS_S: Final = (0.1, 0.5, 1.0, 2.0, 5.0)


async def announce(database: Database, topic: str) -> None:
    """Tell every subscribed process that `topic` changed (after the caller's commit)."""
    async with database.primary.connect() as connection:
        await connection.execute(select(func.pg_notify(CHANNEL, topic)))
        await connection.commit()


@contextlib.asynccontextmanager
async def subscribed(
    database: Database, topic: str, on_signal: Callable[[], None]
) -> AsyncIterator[None]:
    """Call `on_signal` for every announcement of `topic` while the block runs, and once
    after each reconnection (signals sent while disconnected are lost)."""
    listening = asyncio.Event()
    task = asyncio.create_task(_listen(database, topic, on_signal, listening))
    # Wait (briefly) until LISTEN is in place, so that a change made right after start-up
    # is heard; a database that refuses it leaves the listener retrying in the background.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(listening.wait(), timeout=5)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _listen(
    database: Database, topic: str, on_signal: Callable[[], None], listening: asyncio.Event
) -> None:
    url = database.primary.url.set(drivername="postgresql").render_as_string(hide_password=False)
    failures = 0
    while True:
        try:
            await _listen_until_lost(url, topic, on_signal, listening, missed=failures > 0)
            failures = 0
        except (OSError, asyncpg.PostgresError) as error:
            logger.warning("broadcast_unavailable", topic=topic, error=str(error))
        delay = RECONNECT_DELAYS_S[min(failures, len(RECONNECT_DELAYS_S) - 1)]
        failures += 1
        await asyncio.sleep(delay)


async def _listen_until_lost(
    url: str,
    topic: str,
    on_signal: Callable[[], None],
    listening: asyncio.Event,
    *,
    missed: bool,
) -> None:
    lost = asyncio.Event()
    connection = await asyncpg.connect(url)
    try:
        connection.add_termination_listener(lambda _: lost.set())
        await connection.add_listener(
            CHANNEL, lambda *args: on_signal() if args[3] == topic else None
        )
        if missed:  # whatever was announced while disconnected went unheard
            on_signal()
            logger.info("broadcast_listening_again", topic=topic)
        listening.set()
        await lost.wait()
    finally:
        await close_quietly(connection)
