"""A hung Redis (SIGSTOP: it accepts connections and never answers) costs requests a few
milliseconds, not each Redis call its deadline, and never lets a stale session through.

Before the circuit breaker every request paid one deadline per Redis call (fast path,
rate limiter, catalog cache, principal cache: ~1.5 s a request). Now the first timeouts
open the one breaker the process shares, and every Redis user takes its fallback at once
(the database, in-process rate limits) until a background probe finds Redis again.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.identity.services import IdentityServices
from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from tests.integration.catalog.conftest import create_product
from tests.support.apps import app_client
from tests.support.identity import bearer, seed_account
from tests.support.redis_server import PrivateRedis

if TYPE_CHECKING:
    from mercato.platform.breaker import CircuitBreaker

ROUNDS = 15
# Generous for a loaded 2-core machine: a hung call costs 500 ms, a request paid ~1.5 s.
HUNG_MEDIAN_LIMIT_S = 0.05
# Long enough for the breaker's reset period and its probe.
RECOVERY_WAIT_S = 10


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()  # SIGCONT first: never left stopped


async def median_s(request: Callable[[], Awaitable[httpx.Response]]) -> float:
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = await request()
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return statistics.median(timings)


async def test_a_hung_redis_costs_requests_milliseconds_not_deadlines(
    settings: Settings,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    private_redis: PrivateRedis,
) -> None:
    await seed_account(connection, email="editor@corp.example", roles=("staff",))
    shared = settings.model_copy(update={"redis_url": private_redis.url})
    async with app_client(shared, database) as api:
        editor = await bearer(api, "editor@corp.example")
        await create_product(api, editor, name="Kettle")

        async def catalog_read() -> httpx.Response:  # fast path, rate limiter, cache
            return await api.get("/api/v1/products")

        async def signed_in_read() -> httpx.Response:  # principal cache, two rate limits
            return await api.get("/api/v1/users/me", headers=editor)

        normal = [await median_s(catalog_read), await median_s(signed_in_read)]
        private_redis.pause()
        # The first calls wait out their deadlines and open the breaker.
        assert (await catalog_read()).status_code == 200
        hung = [await median_s(catalog_read), await median_s(signed_in_read)]
        private_redis.resume()

    for before, during in zip(normal, hung, strict=True):
        assert during < HUNG_MEDIAN_LIMIT_S, (normal, hung)
        assert during < before + HUNG_MEDIAN_LIMIT_S, (normal, hung)


async def test_a_revocation_during_the_hang_is_not_undone_by_stale_entries(
    settings: Settings,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    private_redis: PrivateRedis,
) -> None:
    """Process A signs a session out while Redis hangs (the generation bump is skipped);
    process B cached that session before. Once Redis is back, neither trusts the entry:
    A distrusts its cache until its probe has bumped the epoch, which retires B's entry."""
    await seed_account(connection, email="ada@example.com")
    shared = settings.model_copy(update={"redis_url": private_redis.url})
    async with app_client(shared, database) as process_a, app_client(shared, database) as process_b:
        token = await bearer(process_a, "ada@example.com")
        for process in (process_a, process_b):  # cached in Redis by both
            assert (await process.get("/api/v1/users/me", headers=token)).status_code == 200

        private_redis.pause()
        await process_a.get("/api/v1/categories")  # A's first timeouts open its breaker
        signed_out = await process_a.post("/api/v1/auth/logout", headers=token)
        assert signed_out.status_code == 204
        private_redis.resume()

        await _until_closed(process_a)
        for process in (process_a, process_b):
            assert (await process.get("/api/v1/users/me", headers=token)).status_code == 401


async def _until_closed(client: httpx.AsyncClient) -> None:
    """Traffic until the process's breaker closes (a request due for a probe starts one in
    the background), and its recovery callbacks (the replay) have run."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    principals = transport.app.state.runtime.services(IdentityServices).principals  # type: ignore[attr-defined]
    breaker: CircuitBreaker = principals._guard.breaker
    give_up_at = time.monotonic() + RECOVERY_WAIT_S
    while breaker.is_open or principals._distrusted:
        assert time.monotonic() < give_up_at, "the breaker did not close"
        assert (await client.get("/api/v1/categories")).status_code == 200
        await asyncio.sleep(0.1)
