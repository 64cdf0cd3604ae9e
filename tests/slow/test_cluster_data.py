"""The data paths of the cluster under faults: events through NATS JetStream while workers
are killed and NATS restarts, and a replica whose replay is paused."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter

import asyncpg
import httpx
import nats
import pytest
from nats.js.errors import NotFoundError

from tests.support import cluster as clusters

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

CATALOG_STREAM = "MERCATO_CATALOG"
CACHE_GROUP = "catalog-cache"


def _product(slug: str, price: int = 1_000) -> dict[str, object]:
    return {
        "sku": slug.upper(),
        "slug": slug,
        "name": f"Product {slug}",
        "price_minor": price,
        "currency": "EUR",
        "status": "active",
        "on_hand": 1,
    }


async def test_no_event_is_lost_or_applied_twice_when_workers_die_and_nats_restarts(
    cluster: clusters.Cluster, primary: asyncpg.Connection
) -> None:
    """40 products written while worker-1 is SIGKILLed, NATS restarted and worker-2
    SIGKILLed: every event is in the stream once (by Nats-Msg-Id) and applied once by the
    cache consumer group (its inbox), none missing."""
    started = await primary.fetchval("SELECT now()")
    first_seq = await _stream_last_seq(cluster) + 1
    faults = {
        10: lambda: cluster.kill("worker-1", signal.SIGKILL),
        20: lambda: cluster.kill("nats", signal.SIGTERM),
        30: lambda: cluster.kill("worker-2", signal.SIGKILL),
    }
    async with clusters.client(cluster.url, source="127.0.0.14") as http:
        admin = {"Authorization": f"Bearer {await clusters.admin_token(cluster, http)}"}
        for number in range(40):
            if number in faults:
                faults[number]()
            slug = f"event-{uuid.uuid4().hex[:10]}"
            created = await http.post("/api/v1/admin/products", headers=admin, json=_product(slug))
            assert created.status_code == 201, created.text
            await asyncio.sleep(0.05)
    events = {
        str(row["id"])
        for row in await primary.fetch(
            "SELECT id FROM platform_outbox WHERE name LIKE 'catalog.%' AND created_at >= $1",
            started,
        )
    }
    assert len(events) >= 40
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        applied = await _applied(primary, events)
        if len(applied) == len(events):
            break
        await asyncio.sleep(0.5)
    applied = await _applied(primary, events)
    assert set(applied) == events, f"{len(events) - len(applied)} events never applied"
    assert max(applied.values()) == 1
    in_stream = Counter(
        msg_id for msg_id in await _stream_message_ids(cluster, first_seq) if msg_id in events
    )
    print(  # noqa: T201
        f"\nevents: {len(events)} written, {len(in_stream)} in the stream, "
        f"{len(applied)} applied; restarts {cluster.state()['processes']['worker-1']['restarts']}"
        f"/{cluster.restarts('nats')}/{cluster.restarts('worker-2')}"
    )
    assert set(in_stream) == events
    assert max(in_stream.values()) == 1, "an event was stored twice in the stream"
    assert cluster.restarts("worker-1") >= 1
    assert cluster.restarts("nats") >= 1
    assert cluster.restarts("worker-2") >= 1


async def _applied(primary: asyncpg.Connection, events: set[str]) -> Counter[str]:
    rows = await primary.fetch(
        "SELECT event_id::text FROM platform_inbox WHERE consumer = $1"
        " AND event_id = ANY($2::uuid[])",
        CACHE_GROUP,
        list(events),
    )
    return Counter(row["event_id"] for row in rows)


async def _stream_last_seq(cluster: clusters.Cluster) -> int:
    client = await nats.connect(f"nats://127.0.0.1:{cluster.layout.nats_port}")
    try:
        info = await client.jetstream().stream_info(CATALOG_STREAM)
    except NotFoundError:
        return 0
    finally:
        await client.close()
    last: int = info.state.last_seq
    return last


async def _stream_message_ids(cluster: clusters.Cluster, first_seq: int) -> list[str]:
    """The Nats-Msg-Id of every message stored in the stream from `first_seq` on."""
    for _ in range(100):  # NATS may still be coming back from its restart
        try:
            client = await nats.connect(f"nats://127.0.0.1:{cluster.layout.nats_port}")
            break
        except (OSError, nats.errors.NoServersError):
            await asyncio.sleep(0.2)
    try:
        jetstream = client.jetstream()
        last = (await jetstream.stream_info(CATALOG_STREAM)).state.last_seq
        ids = []
        for seq in range(first_seq, last + 1):
            try:
                message = await jetstream.get_msg(CATALOG_STREAM, seq)
            except NotFoundError:
                continue
            ids.append((message.headers or {}).get("Nats-Msg-Id", ""))
        return ids
    finally:
        await client.close()


async def test_with_replay_paused_public_reads_may_lag_but_a_users_own_reads_do_not(
    cluster: clusters.Cluster, primary: asyncpg.Connection
) -> None:
    slug = f"lag-{uuid.uuid4().hex[:10]}"
    processes = [f"http://127.0.0.1:{port}" for port in cluster.layout.api_ports()]
    replica = await asyncpg.connect(cluster.layout.database_url(cluster.layout.replica_port))
    try:
        async with clusters.client(cluster.url, source="127.0.0.15") as http:
            admin = {"Authorization": f"Bearer {await clusters.admin_token(cluster, http)}"}
            created = await http.post(
                "/api/v1/admin/products", headers=admin, json=_product(slug, 1_000)
            )
            assert created.status_code == 201, created.text
            product = created.json()
            me = (await http.get("/api/v1/users/me", headers=admin)).json()
            await _until_replayed(primary, replica)
            await replica.execute("SELECT pg_wal_replay_pause()")
            try:
                renamed = await http.patch(
                    "/api/v1/users/me",
                    headers=admin,
                    json={"name": f"Admin {slug}", "version": me["version"]},
                )
                assert renamed.status_code == 200, renamed.text
                repriced = await http.patch(
                    f"/api/v1/admin/products/{product['id']}",
                    headers=admin,
                    json={"price_minor": 2_000, "version": product["version"]},
                )
                assert repriced.status_code == 200, repriced.text
                # The writer's own reads (a token: the primary), through every process.
                for process in processes:
                    own = await http.get(f"{process}/api/v1/users/me", headers=admin)
                    assert own.json()["name"] == f"Admin {slug}"
                    mine = await http.get(
                        f"{process}/api/v1/admin/products/{product['id']}", headers=admin
                    )
                    assert mine.json()["price"]["amount_minor"] == 2_000
                # Anonymous reads are the replica's: still the old price while it is paused.
                lagging = [await _price(http, process, slug) for process in processes]
                assert lagging == [1_000] * len(processes)
            finally:
                await replica.execute("SELECT pg_wal_replay_resume()")
            resumed = time.monotonic()
            caught_up = await asyncio.gather(
                *(_seconds_until(http, process, slug, 2_000, resumed) for process in processes)
            )
    finally:
        await replica.close()
    print(f"\nafter resume, public reads fresh after {[round(s, 3) for s in caught_up]} s")  # noqa: T201
    # The writer's listeners ran again once the replica caught up: no stale page stays.
    assert max(caught_up) <= 3.0, caught_up


async def _until_replayed(primary: asyncpg.Connection, replica: asyncpg.Connection) -> None:
    target = await primary.fetchval("SELECT pg_current_wal_lsn()")
    for _ in range(200):
        if await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", target):
            return
        await asyncio.sleep(0.05)
    pytest.fail("the replica did not catch up")


async def _price(http: httpx.AsyncClient, base: str, slug: str) -> int:
    answer = await http.get(f"{base}/api/v1/products/{slug}")
    assert answer.status_code == 200, answer.text
    price: int = answer.json()["price"]["amount_minor"]
    return price


async def _seconds_until(
    http: httpx.AsyncClient, base: str, slug: str, price: int, since: float
) -> float:
    while time.monotonic() - since < 10:
        if await _price(http, base, slug) == price:
            return time.monotonic() - since
        await asyncio.sleep(0.05)
    return float("inf")
