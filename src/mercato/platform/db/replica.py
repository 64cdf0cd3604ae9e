"""Commit listeners that wait for the read replica.

A commit listener tells the other processes that something changed (the catalog cache's
generation, the session cache's): whoever learns of it next reads again — on the replica
if they are anonymous. Told before the replica has replayed the commit, such a reader
would compute the old answer and cache it under the new generation. So, with a replica
configured, listeners run once the replica has replayed the commit (within
`DATABASE_REPLICA_WAIT_MS`); when it is further behind than that (a replay paused, a
replica restarting), they run at once *and again* once it has caught up, so no stale
answer outlives the lag by more than one poll (bounded: `_CATCH_UP_LIMIT_S`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy import text

from mercato.platform.db.database import Database

logger = structlog.get_logger(__name__)

_POLL_S = 0.005
_CATCH_UP_POLL_S = 0.1
_CATCH_UP_LIMIT_S = 600.0
# Re-runs waiting for a late replica; held so that the event loop does not drop them.
_pending: set[asyncio.Task[None]] = set()


async def after_replica_replay(database: Database, notify: Callable[[], Awaitable[None]]) -> None:
    """Run `notify` once the replica has what the primary committed so far (at once
    without a replica; at once and again later when the replica is behind)."""
    if database.replica is None:
        await notify()
        return
    try:
        target = await _primary_position(database)
        caught_up = await _replayed(database, target, wait_s=database.replica_wait_s)
    except Exception as error:  # noqa: BLE001 - a replica problem must not undo a committed write
        logger.warning("replica_position_unknown", error=str(error))
        target, caught_up = None, False
    await notify()
    if caught_up:
        return
    logger.warning("replica_behind", wait_ms=round(database.replica_wait_s * 1000))
    task = asyncio.create_task(_notify_when_replayed(database, target, notify))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _notify_when_replayed(
    database: Database, target: str | None, notify: Callable[[], Awaitable[None]]
) -> None:
    try:
        if target is None:
            target = await _primary_position(database)
        if await _replayed(database, target, wait_s=_CATCH_UP_LIMIT_S, poll_s=_CATCH_UP_POLL_S):
            logger.info("replica_caught_up")
        await notify()
    except Exception as error:  # noqa: BLE001 - logged; the cache's TTL bounds what is left
        logger.warning("replica_catch_up_notify_failed", error=str(error))


async def _primary_position(database: Database) -> str:
    async with database.primary.connect() as connection:
        position = await connection.scalar(text("SELECT pg_current_wal_lsn()::text"))
    return str(position)


async def _replayed(
    database: Database, target: str, *, wait_s: float, poll_s: float = _POLL_S
) -> bool:
    assert database.replica is not None
    deadline = time.monotonic() + wait_s
    # The position travels as text: asyncpg would bind a pg_lsn parameter as an integer.
    query = text(
        "SELECT coalesce(pg_last_wal_replay_lsn() >= CAST(CAST(:target AS text) AS pg_lsn), true)"
    )
    async with database.replica.connect() as connection:
        while True:
            if await connection.scalar(query, {"target": target}):
                return True
            await connection.rollback()
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(poll_s)
