"""Rate limits per route policy and client IP, in memory or in a shared Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from mercato.app import create_app
from mercato.platform.config import HttpSettings, Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.errors import RateLimited
from mercato.platform.http.policy import RateLimitPolicy
from mercato.platform.http.rate_limits import RateLimiter
from tests.conftest import TEST_ORIGIN
from tests.e2e.conftest import free_port
from tests.support.apps import app_client

VERIFY = "/api/v1/auth/verify-email"  # policy "email-token": 10 per minute per IP
GARBAGE = {"token": "not-a-real-token"}


def random_ip() -> str:
    value = uuid.uuid4().int
    return f"10.{value % 250}.{(value >> 8) % 250}.{(value >> 16) % 250 + 1}"


async def test_the_eleventh_request_in_a_minute_is_429_with_headers(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    async with app_client(settings, database, ip="10.0.0.1") as client:
        answers = [await client.post(VERIFY, json=GARBAGE) for _ in range(11)]
    assert [answer.status_code for answer in answers] == [400] * 10 + [429]
    first, limited = answers[0], answers[-1]
    assert first.headers["ratelimit-policy"] == '"email-token";q=10;w=60'
    assert first.headers["ratelimit"].startswith('"email-token";r=9;t=')
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["type"] == "/problems/rate-limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["ratelimit"].startswith('"email-token";r=0;')


async def test_limits_are_per_client_ip(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        first = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("10.0.0.1", 1)), base_url="http://t"
        )
        second = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("10.0.0.2", 1)), base_url="http://t"
        )
        async with first, second:
            for _ in range(10):
                await first.post(VERIFY, json=GARBAGE)
            assert (await first.post(VERIFY, json=GARBAGE)).status_code == 429
            assert (await second.post(VERIFY, json=GARBAGE)).status_code == 400


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    async with app_client(settings, database, ip="10.0.0.3") as client:
        answers = [
            await client.post(VERIFY, json=GARBAGE, headers={"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(11)
        ]
    assert answers[-1].status_code == 429


async def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    proxied = settings.model_copy(
        update={"http": HttpSettings(trusted_proxies=("10.1.0.0/16",), cors_origins=(TEST_ORIGIN,))}
    )
    async with app_client(proxied, database, ip="10.1.2.3") as proxy:
        distinct = [
            await proxy.post(VERIFY, json=GARBAGE, headers={"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(15)
        ]
        same = [
            await proxy.post(
                VERIFY, json=GARBAGE, headers={"X-Forwarded-For": "198.51.100.7, 10.1.9.9"}
            )
            for _ in range(11)
        ]
    assert all(answer.status_code == 400 for answer in distinct)
    assert same[-1].status_code == 429  # the client left of our own proxies is the key


async def test_operations_routes_are_never_limited(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    async with app_client(settings, database, ip="10.0.0.4") as client:
        statuses = {(await client.get("/health/live")).status_code for _ in range(320)}
    assert statuses == {200}


async def test_a_user_limit_counts_only_that_user() -> None:
    limiter = RateLimiter.for_redis(None)
    policy = RateLimitPolicy("tiny", per_ip=None, per_user="2/minute")
    for _ in range(2):
        await limiter.enforce(policy, scope="user", key="ada")
    with pytest.raises(RateLimited):
        await limiter.enforce(policy, scope="user", key="ada")
    assert await limiter.enforce(policy, scope="user", key="grace")


async def test_api_processes_share_counters_through_redis(
    settings: Settings, database: ConnectionBoundDatabase, redis_url: str
) -> None:
    shared = settings.model_copy(update={"redis_url": redis_url})
    ip = random_ip()  # a fresh key: counters in the shared Redis outlive this test
    async with app_client(shared, database, ip=ip) as first_process:
        for _ in range(6):
            assert (await first_process.post(VERIFY, json=GARBAGE)).status_code == 400
    async with app_client(shared, database, ip=ip) as second_process:
        answers = [await second_process.post(VERIFY, json=GARBAGE) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [400] * 4 + [429]


async def test_an_unreachable_redis_falls_back_to_limits_per_process(
    settings: Settings, database: ConnectionBoundDatabase, unused_port: Callable[[], int]
) -> None:
    """Requests are never refused for the limiter's outage, nor let through unlimited:
    in-process counters stand in."""
    broken = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{unused_port()}/0"})
    async with app_client(broken, database, ip="10.0.0.5") as client:
        statuses = [(await client.post(VERIFY, json=GARBAGE)).status_code for _ in range(12)]
    assert statuses == [400] * 10 + [429] * 2


@pytest.fixture
def unused_port() -> Callable[[], int]:
    return free_port
