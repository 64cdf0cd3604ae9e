"""The per-request session check cached in Redis: hits, immediate revocation, races,
and Redis failures that fall back to PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.identity.principal_cache import RedisPrincipalCache
from mercato.platform.auth import Principal
from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from tests.e2e.conftest import free_port
from tests.support.apps import app_client
from tests.support.identity import PASSWORD, bearer, seed_account

ME = "/api/v1/users/me"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def cache_results(client: httpx.AsyncClient) -> dict[str, float]:
    metrics = (await client.get("/metrics")).text
    results: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("mercato_principal_cache_total{"):
            label, value = line.split(" ")
            results[label.split('"')[1]] = float(value)
    return results


async def test_repeated_requests_are_answered_from_the_cache_and_logout_still_holds_at_once(
    settings: Settings,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    redis_url: str,
) -> None:
    await seed_account(connection, email="ada@shop.example")
    cached = settings.model_copy(update={"redis_url": redis_url})
    async with app_client(cached, database) as api, app_client(cached, database) as other_api:
        ada = await bearer(api, "ada@shop.example")
        for _ in range(3):
            assert (await api.get(ME, headers=ada)).status_code == 200
        assert (await other_api.get(ME, headers=ada)).status_code == 200
        results = await cache_results(api)
        assert results["miss"] == 1
        assert results["hit"] == 2
        assert (await cache_results(other_api))["hit"] == 1  # the entry is shared

        assert (await api.post("/api/v1/auth/logout", headers=ada)).status_code == 204
        assert (await api.get(ME, headers=ada)).status_code == 401
        assert (await other_api.get(ME, headers=ada)).status_code == 401


async def test_a_role_change_reaches_cached_sessions_at_once(
    settings: Settings,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    redis_url: str,
) -> None:
    await seed_account(connection, email="root@corp.example", roles=("admin",))
    buyer_id = await seed_account(connection, email="buyer@shop.example")
    cached = settings.model_copy(update={"redis_url": redis_url})
    async with app_client(cached, database) as api:
        root = await bearer(api, "root@corp.example")
        buyer = await bearer(api, "buyer@shop.example")
        assert (await api.get(ME, headers=buyer)).status_code == 200  # now cached
        promoted = await api.patch(
            f"/api/v1/admin/users/{buyer_id}", json={"roles": ["staff"], "version": 1}, headers=root
        )
        assert promoted.status_code == 200
        assert (await api.get(ME, headers=buyer)).status_code == 401


async def test_an_answer_read_before_an_invalidation_is_never_served_after_it(
    redis: Redis,
) -> None:
    cache = RedisPrincipalCache(redis)
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    principal = Principal(
        user_id=user_id, session_id=session_id, roles=("customer",), permissions=frozenset()
    )
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)

    # A request misses and reads PostgreSQL; meanwhile a logout commits and invalidates;
    # then the slow request writes its (now stale) answer.
    missed, stamp = await cache.lookup(session_id=session_id, user_id=user_id)
    assert missed is None
    assert stamp is not None
    await cache.bump({user_id})
    await cache.store(principal, stamp=stamp, expires_at=expires)
    assert (await cache.lookup(session_id=session_id, user_id=user_id))[0] is None

    # An answer stored under the current generation is served.
    _, current = await cache.lookup(session_id=session_id, user_id=user_id)
    assert current is not None
    await cache.store(principal, stamp=current, expires_at=expires)
    hit, _ = await cache.lookup(session_id=session_id, user_id=user_id)
    assert hit == principal
    # ...but not for another user claiming the same session id.
    assert (await cache.lookup(session_id=session_id, user_id=uuid.uuid4()))[0] is None


async def test_an_unreachable_redis_falls_back_to_postgresql(
    settings: Settings, connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    await seed_account(connection, email="ada@shop.example")
    broken = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with app_client(broken, database) as api:
        login = await api.post(
            "/api/v1/auth/login", json={"email": "ada@shop.example", "password": PASSWORD}
        )
        ada = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert (await api.get(ME, headers=ada)).status_code == 200
        assert (await api.post("/api/v1/auth/logout", headers=ada)).status_code == 204
        assert (await api.get(ME, headers=ada)).status_code == 401
        assert (await cache_results(api))["error"] >= 2
