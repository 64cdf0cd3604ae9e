"""Through nginx and across the API processes: one rate limit for all, a catalog write seen
by every process within a second, and a process SIGKILLed under load."""

from __future__ import annotations

import asyncio
import re
import signal
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.support import cluster as clusters

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def test_one_rate_limit_holds_across_the_three_api_processes(
    cluster: clusters.Cluster,
) -> None:
    """`refresh` allows 60 requests a minute per client address: 90 requests spread over
    three processes get exactly 60 answers that are not 429 (one Redis counter)."""
    request_ids = [f"limit-{uuid.uuid4().hex}" for _ in range(90)]
    async with clusters.client(cluster.url, source="127.0.0.11") as http:
        statuses = [
            (
                await http.post(
                    "/api/v1/auth/refresh",
                    json={"refresh_token": "not-a-token"},
                    headers={"X-Request-ID": request_id},
                )
            ).status_code
            for request_id in request_ids
        ]
    counted = Counter(statuses)
    assert counted[429] == 30, counted
    assert sum(n for status, n in counted.items() if status != 429) == 60
    served_by = Counter(
        line["upstream"] for line in cluster.nginx_log() if line["request_id"] in request_ids
    )
    assert len(served_by) == 3, served_by


async def test_a_catalog_write_is_seen_through_every_api_process_within_a_second(
    cluster: clusters.Cluster,
) -> None:
    slug = f"visible-{uuid.uuid4().hex[:10]}"
    async with clusters.client(cluster.url, source="127.0.0.12") as http:
        token = await clusters.admin_token(cluster, http)
        admin = {"Authorization": f"Bearer {token}"}
        created = await http.post(
            "/api/v1/admin/products",
            headers=admin,
            json={
                "sku": slug.upper(),
                "slug": slug,
                "name": "Visible everywhere",
                "price_minor": 1_000,
                "currency": "EUR",
                "status": "active",
                "on_hand": 3,
            },
        )
        assert created.status_code == 201, created.text
        product = created.json()
        processes = [f"http://127.0.0.1:{port}" for port in cluster.layout.api_ports()]
        for process in processes:  # each one caches the page (shared Redis)
            assert await _public_price(http, process, slug) == 1_000
        changed = await http.patch(
            f"/api/v1/admin/products/{product['id']}",
            headers=admin,
            json={"price_minor": 2_000, "version": product["version"]},
        )
        assert changed.status_code == 200, changed.text
        written = time.monotonic()
        seen_after = await asyncio.gather(
            *(_seconds_until_price(http, process, slug, 2_000, written) for process in processes)
        )
    print(f"\ncatalog write seen by the 3 processes after {[round(s, 3) for s in seen_after]} s")  # noqa: T201
    assert max(seen_after) <= 1.0, seen_after


async def _public_price(http: httpx.AsyncClient, base: str, slug: str) -> int:
    answer = await http.get(f"{base}/api/v1/products/{slug}")
    assert answer.status_code == 200, answer.text
    price: int = answer.json()["price"]["amount_minor"]
    return price


async def _seconds_until_price(
    http: httpx.AsyncClient, base: str, slug: str, price: int, since: float
) -> float:
    deadline = since + 5.0
    while time.monotonic() < deadline:
        if await _public_price(http, base, slug) == price:
            return time.monotonic() - since
        await asyncio.sleep(0.02)
    return float("inf")


_SENT_THEN_LOST = re.compile(
    r"(prematurely closed|reset by peer|broken pipe).*while (reading|sending)"
    r".*request: \"(?P<method>[A-Z]+) "
)


async def test_an_api_process_killed_under_load_costs_no_idempotent_request_and_restarts(
    cluster: clusters.Cluster,
) -> None:
    """GETs whose process dies are passed on by nginx (clients see none fail); a POST that
    had reached the dead process fails to its client and is never sent again; the
    supervisor starts the process again."""
    errors_before = _nginx_errors(cluster)
    stop = asyncio.Event()
    gets: Counter[Any] = Counter()
    posts: Counter[Any] = Counter()

    async def read_loop(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            gets[await _status(http.get("/api/v1/products", params={"limit": 5}))] += 1

    async def write_loop(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            answer = http.post("/api/v1/auth/refresh", json={"refresh_token": "not-a-token"})
            posts[await _status(answer)] += 1

    # One address per reader: the catalog's per-IP limit is not what is under test (one
    # address for all six met it within the run once the list got fast).
    readers = [clusters.client(cluster.url, source=f"127.0.4.{n + 1}") for n in range(6)]
    writers = [clusters.client(cluster.url, source=f"127.0.0.{20 + n}") for n in range(2)]
    victim = cluster.pid("api-2")
    try:
        load = [
            *(asyncio.create_task(read_loop(http)) for http in readers),
            *(asyncio.create_task(write_loop(http)) for http in writers),
        ]
        await asyncio.sleep(1.5)
        cluster.kill("api-2", signal.SIGKILL)
        await asyncio.sleep(3.0)
        stop.set()
        await asyncio.gather(*load)
    finally:
        for http in [*readers, *writers]:
            await http.aclose()
    restarted = await asyncio.to_thread(cluster.wait_restarted, "api-2", victim)
    assert restarted != victim
    assert cluster.restarts("api-2") >= 1
    lost = [
        match.group("method")
        for line in _nginx_errors(cluster)[len(errors_before) :]
        if (match := _SENT_THEN_LOST.search(line))
    ]
    print(f"\nkill under load: GETs {dict(gets)}, POSTs {dict(posts)}, lost after send {lost}")  # noqa: T201
    assert sum(gets.values()) > 100
    assert set(gets) <= {200}, gets  # no GET failed: nginx passed them on
    failed_posts = posts["error"] + posts[502] + posts[504]
    assert failed_posts == lost.count("POST"), (posts, lost)  # each lost POST failed once
    assert failed_posts <= len(writers)  # at most the requests in flight at the kill
    async with clusters.client(f"http://127.0.0.1:{cluster.layout.api_ports()[1]}") as http:
        for _ in range(100):
            if (await _status(http.get("/health/ready"))) == 200:
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the restarted API process never became ready")


async def _status(request: Any) -> int | str:
    try:
        answer: httpx.Response = await request
    except httpx.TransportError:
        return "error"
    return answer.status_code


def _nginx_errors(cluster: clusters.Cluster) -> list[str]:
    path = cluster.layout.logs / "nginx-error.log"
    return path.read_text().splitlines() if path.exists() else []
