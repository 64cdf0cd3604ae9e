"""LISTEN on a PostgreSQL channel from a dedicated connection (outside the pool)."""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from mercato.platform.db.database import Database

logger = structlog.get_logger(__name__)


async def listen(
    database: Database, channel: str, wake: asyncio.Event
) -> asyncpg.Connection | None:
    """Set `wake` on every notification; None (and a warning) when LISTEN is unavailable,
    in which case callers fall back to polling."""
    url = database.primary.url.set(drivername="postgresql")
    try:
        connection = await asyncpg.connect(url.render_as_string(hide_password=False))
        await connection.add_listener(channel, lambda *_: wake.set())
    except (OSError, asyncpg.PostgresError) as error:
        logger.warning("listen_unavailable", channel=channel, error=str(error))
        return None
    return connection


async def close_quietly(connection: asyncpg.Connection | None) -> None:
    if connection is None:
        return
    try:
        await connection.close(timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        logger.debug("listener_close_failed", error=str(error))
