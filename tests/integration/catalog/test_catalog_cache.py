"""The catalog response cache in Redis: shared by API processes, invalidated by every
committed change, one recomputation per key under a stampede, harmless when Redis dies."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.catalog import cache as cache_module
from mercato.catalog import consumers as catalog_consumers
from mercato.catalog.cache import SHAPE, CachedRead, Peek, RedisCatalogCache
from mercato.catalog.events import ProductChanged
from mercato.catalog.services import CatalogServices
from mercato.modules import MODULES
from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.runtime import open_runtime
from tests.e2e.conftest import free_port
from tests.integration.catalog.conftest import counted_statements, create_product
from tests.support.apps import app_client
from tests.support.identity import bearer, seed_account
from tests.support.redis_server import PrivateRedis


async def metric(client: httpx.AsyncClient, result: str) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(f'mercato_catalog_cache_total{{result="{result}"}}'):
            return float(line.split(" ")[1])
    return 0.0


async def degraded(client: httpx.AsyncClient) -> float:
    """Reads computed without the cache: Redis failed, or its open breaker skipped it."""
    return await metric(client, "error") + await metric(client, "bypassed")


async def test_a_change_through_one_process_is_seen_at_once_by_another(
    shared: Settings, connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    await seed_account(connection, email="editor@corp.example", roles=("staff",))
    async with app_client(shared, database) as first, app_client(shared, database) as second:
        editor = await bearer(first, "editor@corp.example")
        product = await create_product(first, editor, name="Kettle")
        detail = f"/api/v1/products/{product['id']}"
        assert (await second.get(detail)).json()["name"] == "Kettle"
        assert (await second.get("/api/v1/products")).json()["items"][0]["name"] == "Kettle"
        assert (await second.get(detail)).json()["name"] == "Kettle"
        assert await metric(second, "hit") >= 1  # the second read came from Redis

        renamed = await first.patch(
            f"/api/v1/admin/products/{product['id']}",
            json={"name": "Copper kettle", "version": 1},
            headers=editor,
        )
        assert renamed.status_code == 200
        assert (await second.get(detail)).json()["name"] == "Copper kettle"
        assert (await second.get("/api/v1/products")).json()["items"][0]["name"] == "Copper kettle"

        await first.delete(f"/api/v1/admin/products/{product['id']}", headers=editor)
        assert (await second.get(detail)).status_code == 404
        assert (await second.get("/api/v1/products")).json()["items"] == []


async def test_a_cold_key_under_a_crowd_is_computed_once(
    shared: Settings, connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    await seed_account(connection, email="editor@corp.example", roles=("staff",))
    async with app_client(shared, database) as api:
        editor = await bearer(api, "editor@corp.example")
        for _ in range(5):
            await create_product(api, editor)
        async with counted_statements(connection) as statements:
            answers = await asyncio.gather(
                *(api.get("/api/v1/products", params={"limit": 3}) for _ in range(20))
            )
        assert {answer.status_code for answer in answers} == {200}
        assert len({answer.content for answer in answers}) == 1
        assert len([s for s in statements if "catalog_product" in s]) == 1


async def test_reads_survive_an_unreachable_redis(
    settings: Settings, connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    await seed_account(connection, email="editor@corp.example", roles=("staff",))
    broken = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with app_client(broken, database) as api:
        editor = await bearer(api, "editor@corp.example")
        product = await create_product(api, editor)
        for path in ("/api/v1/products", f"/api/v1/products/{product['id']}", "/api/v1/categories"):
            response = await api.get(path)
            assert response.status_code == 200, path
        assert await degraded(api) >= 3


async def test_catalog_events_retire_cached_reads_from_the_worker_too(
    settings: Settings, database: ConnectionBoundDatabase, redis_url: str
) -> None:
    """Writers without the commit listener (imports, other processes) are covered by the
    `catalog-cache` consumer group: each change event bumps the shared generation."""
    shared = settings.model_copy(update={"redis_url": redis_url})
    async with open_runtime(shared, MODULES, database=database) as runtime:
        groups = {group.name: group for group in runtime.consumers().groups()}
        group = groups[catalog_consumers.GROUP]
        cache = runtime.services(CatalogServices).cache
        assert isinstance(cache, RedisCatalogCache)
        redis = runtime.redis
        assert redis is not None
        _, handler = group.handlers[(ProductChanged.name, ProductChanged.version)]
        generation = int(await redis.get(cache._generation_key) or 0)
        event = ProductChanged(product_id=uuid.uuid4(), slugs=["x"], change="updated")
        await handler(event, None)  # type: ignore[arg-type]  # the handler needs no context
        assert int(await redis.get(cache._generation_key) or 0) == generation + 1


async def test_redis_stopped_mid_test_degrades_to_the_database(
    settings: Settings, connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    await seed_account(connection, email="editor@corp.example", roles=("staff",))
    redis = PrivateRedis()
    redis.start()
    try:
        cached = settings.model_copy(update={"redis_url": redis.url})
        async with app_client(cached, database) as api:
            editor = await bearer(api, "editor@corp.example")
            product = await create_product(api, editor, name="Kettle")
            detail = f"/api/v1/products/{product['id']}"
            for _ in range(2):  # the second read is a cache hit (fast path)
                assert (await api.get(detail)).json()["name"] == "Kettle"
            assert await metric(api, "hit") >= 1

            redis.stop()
            for path in (detail, "/api/v1/products", "/api/v1/categories"):
                assert (await api.get(path)).status_code == 200, path
            renamed = await api.patch(
                f"/api/v1/admin/products/{product['id']}",
                json={"name": "Copper kettle", "version": 1},
                headers=editor,
            )
            assert renamed.status_code == 200  # the lost invalidation is logged, not fatal
            assert (await api.get(detail)).json()["name"] == "Copper kettle"
            assert await degraded(api) >= 3

            redis.start()  # back, empty: reads fill it again
            assert (await api.get(detail)).json()["name"] == "Copper kettle"
            assert (await api.get(detail)).json()["name"] == "Copper kettle"
    finally:
        redis.stop()


async def test_a_hung_redis_costs_a_read_its_deadlines_not_an_answer(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    """A Redis that accepts connections but never answers (SIGSTOP): each cache operation
    gives up at its deadline (`platform.redis.deadline`) and the database answers."""
    redis = PrivateRedis()
    redis.start()
    assert redis.process is not None
    try:
        hung = settings.model_copy(update={"redis_url": redis.url})
        async with app_client(hung, database) as api:
            assert (await api.get("/api/v1/categories")).status_code == 200  # connected
            redis.process.send_signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                response = await api.get("/api/v1/products", params={"limit": 3})
                elapsed = time.monotonic() - started
            finally:
                redis.process.send_signal(signal.SIGCONT)
            assert response.status_code == 200
            # peek, lookup and store: three deadlines of 0.5 s at most, never a hang.
            assert elapsed < 5, elapsed
            assert await metric(api, "error") >= 1
    finally:
        redis.stop()


async def test_a_damaged_entry_is_a_miss_and_is_replaced(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    cache = RedisCatalogCache(redis)
    try:
        await cache.invalidate()
        generation = int(await redis.get(cache._generation_key) or 0)
        what = f"damaged-{uuid.uuid4().hex}"
        await redis.set(f"catalog:{SHAPE}:{generation}:{what}", b"not json\nbody")
        await redis.set(f"catalog:{SHAPE}:raw:{what}?", b"not json\nbody")
        assert await cache.peek(f"{what}?") is None  # cannot tell: the slow path will
        computed = CachedRead(body=b"[]", etag='"fresh"')
        computations = 0

        async def compute() -> CachedRead:
            nonlocal computations
            computations += 1
            return computed

        assert await cache.fetch(what, compute, alias=f"{what}?") == computed
        assert await cache.fetch(what, compute) == computed
        assert computations == 1  # the damaged entry was replaced
        assert await cache.peek(f"{what}?") == computed
    finally:
        await redis.aclose()


async def test_an_alias_never_outlives_the_generation_it_was_computed_in(redis_url: str) -> None:
    """The fast path reads aliases in one call (no generation in their key): a bump
    must delete them all, and a read computed before a bump must not store one after it."""
    redis = Redis.from_url(redis_url)
    cache = RedisCatalogCache(redis)
    read = CachedRead(body=b"[1]", etag='"one"')
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_compute() -> CachedRead:
        started.set()
        await release.wait()
        return read

    async def compute() -> CachedRead:
        return read

    try:
        await cache.invalidate()
        late = f"/late-{uuid.uuid4().hex}?"
        computing = asyncio.create_task(cache.fetch(late, slow_compute, alias=late + "x=1"))
        await started.wait()
        await cache.invalidate()  # a change commits while the read is being computed
        release.set()
        assert await computing == read
        assert not isinstance(await cache.peek(late + "x=1"), CachedRead)

        served = f"/served-{uuid.uuid4().hex}?"
        await cache.fetch(served, compute, alias=served + "x=1")
        assert await cache.peek(served + "x=1") == read
        await cache.invalidate()
        assert not isinstance(await cache.peek(served + "x=1"), CachedRead)
        assert await redis.exists(f"catalog:{SHAPE}:raw:{served}x=1") == 0
    finally:
        await redis.aclose()


async def test_aliases_are_capped(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond the cap new request lines are not aliased (what a bump deletes stays bounded);
    their reads are still cached under the canonical key."""
    monkeypatch.setattr(cache_module, "MAX_ALIASES", 3)
    redis = Redis.from_url(redis_url)
    cache = RedisCatalogCache(redis)
    computations = 0

    async def compute() -> CachedRead:
        nonlocal computations
        computations += 1
        return CachedRead(body=b"[]", etag='"e"')

    try:
        await cache.invalidate()
        prefix = f"/capped-{uuid.uuid4().hex}"
        for n in range(5):
            await cache.fetch(f"{prefix}/{n}", compute, alias=f"{prefix}/{n}?raw")
        aliased = [isinstance(await cache.peek(f"{prefix}/{n}?raw"), CachedRead) for n in range(5)]
        assert aliased == [True, True, True, False, False]
        await cache.fetch(f"{prefix}/4", compute)
        assert computations == 5  # the fifth read was cached all the same
    finally:
        await cache.invalidate()
        await redis.aclose()


async def test_a_failed_recomputation_releases_its_lock_at_once(redis_url: str) -> None:
    """A leader whose read fails (a 404, a database error) must not leave the requests
    waiting on it to sit out WAIT_S: they compute for themselves at once."""
    redis = Redis.from_url(redis_url)
    cache = RedisCatalogCache(redis)
    read = CachedRead(body=b"[2]", etag='"two"')
    started, fail = asyncio.Event(), asyncio.Event()

    async def failing() -> CachedRead:
        started.set()
        await fail.wait()
        raise LookupError("gone")

    async def compute() -> CachedRead:
        return read

    try:
        what = f"/failing-{uuid.uuid4().hex}"
        leader = asyncio.create_task(cache.fetch(what, failing))
        await started.wait()
        waiter = asyncio.create_task(cache.fetch(what, compute))
        await asyncio.sleep(0.2)  # the waiter is polling the leader's entry
        assert not waiter.done()
        failed_at = time.monotonic()
        fail.set()
        with pytest.raises(LookupError):
            await leader
        assert await waiter == read
        assert time.monotonic() - failed_at < cache_module.WAIT_S / 2
    finally:
        await redis.aclose()


async def test_a_fast_path_miss_takes_the_lines_lock_in_the_same_call(redis_url: str) -> None:
    """One call answers a hit with the entry, or a miss with the generation and the line's
    recomputation lock: the first of concurrent misses computes, the others wait for it."""
    redis = Redis.from_url(redis_url)
    cache = RedisCatalogCache(redis)
    read = CachedRead(body=b"[3]", etag='"three"')
    computations = 0

    async def compute() -> CachedRead:
        nonlocal computations
        computations += 1
        await asyncio.sleep(0.2)
        return read

    try:
        await cache.invalidate()
        line = f"raw:/lines-{uuid.uuid4().hex}?"
        found = [await cache.peek(line) for _ in range(3)]
        peeks = [peek for peek in found if isinstance(peek, Peek)]
        assert [peek.leader for peek in peeks] == [True, False, False]
        answers = await asyncio.gather(
            *(cache.fetch("canonical", compute, alias=line, peek=peek) for peek in peeks)
        )
        assert answers == [read] * 3
        assert computations == 1
        assert await cache.peek(line) == read
    finally:
        await redis.aclose()
