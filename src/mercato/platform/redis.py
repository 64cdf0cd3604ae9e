"""The shared Redis client (caches); short deadlines, so a dead Redis costs milliseconds.

The deadline is per operation (`async with deadline():`), not redis-py's `socket_timeout`:
with that set, redis-py wraps every socket write in `asyncio.wait_for`, a task per command,
which measured about a fifth of a cached catalog read (docs/benchmarks.md). A deadline that
expires cancels the command; redis-py then drops that connection, never reusing it
half-read. Code using this client wraps each call in `deadline()`.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

OPERATION_TIMEOUT_S = 0.5


def connect_redis(url: str) -> Redis:
    """A client with its own pool; nothing is sent until first use (start-up never waits)."""
    # socket_timeout=None explicitly: left out, redis-py 8 defaults it to 5 s (wait_for again).
    return Redis.from_url(
        url, socket_connect_timeout=OPERATION_TIMEOUT_S, socket_timeout=None, max_connections=50
    )


def deadline() -> asyncio.Timeout:
    """The deadline of one Redis operation (raises TimeoutError when it passes)."""
    return asyncio.timeout(OPERATION_TIMEOUT_S)
