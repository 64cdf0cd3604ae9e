"""The shared Redis client (caches); short timeouts, so a dead Redis costs milliseconds."""

from __future__ import annotations

from redis.asyncio import Redis


def connect_redis(url: str) -> Redis:
    """A client with its own pool; nothing is sent until first use (start-up never waits)."""
    return Redis.from_url(
        url,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        max_connections=50,
    )
