"""The circuit breaker and the Redis guard: open after consecutive failures, skip at once
while open, one background probe decides, recovery callbacks run when it closes."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from mercato.platform.breaker import CircuitBreaker, CircuitOpen
from mercato.platform.redis import RedisGuard

RESET_S = 0.05


class Dependency:
    """A stand-in dependency whose health the test sets (the breaker's probe calls it)."""

    def __init__(self) -> None:
        self.healthy = True
        self.probes = 0

    async def ping(self) -> bool:
        self.probes += 1
        if not self.healthy:
            raise RedisConnectionError("down")
        return True


def breaker_for(dependency: Dependency) -> CircuitBreaker:
    return CircuitBreaker("test", probe=dependency.ping, reset_after_s=RESET_S)


async def test_consecutive_failures_open_it_and_a_success_in_between_resets_the_count() -> None:
    breaker = breaker_for(Dependency())
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(2):
        breaker.record_failure()
    assert breaker.allows()
    breaker.record_failure()
    assert not breaker.allows()
    with pytest.raises(CircuitOpen):
        breaker.check()


async def test_after_the_reset_period_one_background_probe_closes_it() -> None:
    dependency = Dependency()
    breaker = breaker_for(dependency)
    recovered: list[str] = []

    async def on_recovery() -> None:
        recovered.append("replayed")

    breaker.on_recovery(on_recovery)
    for _ in range(3):
        breaker.record_failure()
    await asyncio.sleep(RESET_S * 1.5)
    # Callers keep skipping while the probe runs: none of them pays for it.
    assert [breaker.allows() for _ in range(10)] == [False] * 10
    await asyncio.sleep(0.01)
    assert dependency.probes == 1
    assert breaker.allows()
    assert recovered == ["replayed"]


async def test_a_failed_probe_keeps_it_open_for_another_period() -> None:
    dependency = Dependency()
    dependency.healthy = False
    breaker = breaker_for(dependency)
    for _ in range(3):
        breaker.record_failure()
    await asyncio.sleep(RESET_S * 1.5)
    assert not breaker.allows()  # starts the probe
    await asyncio.sleep(0.01)
    assert not breaker.allows()  # failed: no new probe before the next period
    assert dependency.probes == 1
    dependency.healthy = True
    await asyncio.sleep(RESET_S * 1.5)
    breaker.allows()
    await asyncio.sleep(0.01)
    assert breaker.allows()
    await breaker.close()


async def test_the_guard_counts_timeouts_and_lost_connections_not_error_replies() -> None:
    guard = RedisGuard(breaker_for(Dependency()), timeout_s=0.01)
    for _ in range(2):
        with pytest.raises(TimeoutError):
            async with guard():
                await asyncio.sleep(1)
    with pytest.raises(ResponseError):
        async with guard():
            raise ResponseError("NOSCRIPT")  # an answer: Redis is alive
    for _ in range(2):
        with pytest.raises(TimeoutError):
            async with guard():
                await asyncio.sleep(1)
    with pytest.raises(RedisConnectionError):
        async with guard():
            raise RedisConnectionError("reset by peer")
    with pytest.raises(CircuitOpen):
        async with guard():
            pytest.fail("an open breaker never runs the call")
    await guard.breaker.close()


async def test_a_cancelled_call_is_no_verdict() -> None:
    guard = RedisGuard(breaker_for(Dependency()), timeout_s=1)

    async def call() -> None:
        async with guard():
            await asyncio.sleep(10)

    for _ in range(5):
        task = asyncio.create_task(call())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert guard.breaker.allows()
