"""The shared Redis client: a deadline per operation and one circuit breaker for all.

Every Redis call goes through the client's guard (`async with guard():`): the breaker's
check, then a deadline. A deadline that expires cancels the command (redis-py then drops
that connection, never reusing it half-read) and counts as a failure; consecutive failures
open the breaker (`platform.breaker`), and while it is open every caller skips Redis at
once and takes its fallback (the database, an in-process limiter), so a hung Redis costs a
request nothing instead of ~0.5 s per call. One breaker for the whole process: the catalog
cache and its fast path, the principal cache and the rate limiter share it, so the first
few timeouts, wherever they happen, spare everybody else.

The deadline is `asyncio.timeout`, not redis-py's `socket_timeout`: with that set, redis-py
wraps every socket write in `asyncio.wait_for`, a task per command, which measured about a
fifth of a cached catalog read (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mercato.platform.breaker import CircuitBreaker, CircuitOpen

OPERATION_TIMEOUT_S = 0.5
# What says "Redis did not answer" (a reply, even an error reply, says it is alive).
_UNANSWERED = (TimeoutError, OSError, RedisConnectionError, RedisTimeoutError)

__all__ = ["OPERATION_TIMEOUT_S", "CircuitOpen", "RedisGuard", "SharedRedis", "connect_redis"]


class _GuardedCall:
    """One Redis call: refused at once when the breaker is open, else under a deadline;
    its outcome is recorded."""

    __slots__ = ("_breaker", "_timeout", "_timeout_s")

    def __init__(self, breaker: CircuitBreaker, timeout_s: float) -> None:
        self._breaker = breaker
        self._timeout_s = timeout_s

    async def __aenter__(self) -> None:
        self._breaker.check()
        self._timeout = asyncio.timeout(self._timeout_s)
        await self._timeout.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self._timeout.__aexit__(exc_type, exc, traceback)
        except TimeoutError:
            self._breaker.record_failure()
            raise
        if exc_type is None:
            self._breaker.record_success()
        elif issubclass(exc_type, _UNANSWERED):
            self._breaker.record_failure()
        elif not issubclass(exc_type, asyncio.CancelledError):
            self._breaker.record_success()  # Redis answered; the caller's code failed


class RedisGuard:
    """The breaker and the deadline of every call to one Redis."""

    def __init__(self, breaker: CircuitBreaker, *, timeout_s: float = OPERATION_TIMEOUT_S) -> None:
        self.breaker = breaker
        self._timeout_s = timeout_s

    @classmethod
    def for_client(cls, redis: Redis) -> RedisGuard:
        """The client's shared guard (`connect_redis`), or one of its own for another."""
        if isinstance(redis, SharedRedis):
            return redis.guard
        return cls(CircuitBreaker("redis", probe=redis.ping))

    def __call__(self) -> _GuardedCall:
        return _GuardedCall(self.breaker, self._timeout_s)


class SharedRedis(Redis):
    """The process's Redis client, carrying the guard that every user of it shares."""

    guard: RedisGuard

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await self.guard.breaker.close()
        await super().aclose(close_connection_pool)


def connect_redis(url: str) -> SharedRedis:
    """A client with its own pool and breaker; nothing is sent until first use (start-up
    never waits)."""
    # socket_timeout=None explicitly: left out, redis-py 8 defaults it to 5 s (wait_for again).
    client = SharedRedis.from_url(
        url, socket_connect_timeout=OPERATION_TIMEOUT_S, socket_timeout=None, max_connections=50
    )
    assert isinstance(client, SharedRedis)  # from_url builds `cls`
    client.guard = RedisGuard(
        CircuitBreaker("redis", probe=client.ping, probe_timeout_s=OPERATION_TIMEOUT_S)
    )
    return client
