"""A relay process killed mid-backlog (SIGKILL) loses nothing and duplicates nothing."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import nats
import pytest

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.events.nats_consumer import NatsConsumer
from mercato.platform.events.postgres_consumer import PostgresConsumer
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import NatsTransport, PostgresTransport, nats_stream
from tests.integration.events.conftest import (
    per_aggregate_order_holds,
    publish_bulk,
    scalar,
    wait_until,
)
from tests.support.events import registry
from tests.support.processes import spawn_module

TOTAL = 3_000
PUBLISHED = "SELECT count(*) FROM platform_outbox WHERE published_at IS NOT NULL"
EFFECTS = "SELECT count(DISTINCT event_id) FROM test_effect WHERE consumer = 'counter'"


async def kill_relay_midway(
    settings: Settings, database: Database, repo_root: Path, *args: str
) -> int:
    """Start a relay process, SIGKILL it once it has published part of the backlog."""
    assert settings.database.url is not None
    url = settings.database.url.get_secret_value()
    process = spawn_module("tests.support.relay_process", url, *args, cwd=repo_root)
    try:
        await wait_until(PUBLISHED, database, expected=TOTAL // 5, seconds=60)
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)
    return await scalar(database, PUBLISHED)


async def test_postgres_relay_killed_midway(
    live_database: Database, settings: Settings, repo_root: Path
) -> None:
    await publish_bulk(live_database, aggregates=30, per_aggregate=TOTAL // 30)
    published = await kill_relay_midway(settings, live_database, repo_root, "postgres")
    assert TOTAL // 5 <= published < TOTAL

    relay = Relay(live_database, PostgresTransport(), batch_size=500)
    while await relay.publish_pending():
        pass
    assert await scalar(live_database, PUBLISHED) == TOTAL
    # Positions are gap-free, whoever published them.
    assert await scalar(live_database, "SELECT max(log_position) FROM platform_outbox") == TOTAL
    (group,) = registry().groups()
    consumer = PostgresConsumer(live_database, group, batch_size=1_000)
    while await consumer.process_batch():
        pass
    assert await scalar(live_database, EFFECTS) == TOTAL
    assert await per_aggregate_order_holds(live_database, "counter")


@pytest.mark.usefixtures("clean_nats")
async def test_nats_relay_killed_midway(
    live_database: Database, settings: Settings, repo_root: Path, clean_nats: str
) -> None:
    await publish_bulk(live_database, aggregates=30, per_aggregate=TOTAL // 30)
    published = await kill_relay_midway(settings, live_database, repo_root, "nats", clean_nats)
    assert TOTAL // 5 <= published < TOTAL

    client = await nats.connect(clean_nats)
    try:
        jetstream = client.jetstream()
        relay = Relay(live_database, NatsTransport(client, domains={"test"}), batch_size=500)
        while await relay.publish_pending():
            pass
        assert await scalar(live_database, PUBLISHED) == TOTAL
        info = await jetstream.stream_info(nats_stream("test"))
        assert info.state.messages == TOTAL  # republished rows were dropped as duplicates
        (group,) = registry().groups()
        consumer = NatsConsumer(live_database, group, jetstream, fetch_timeout_s=0.2)
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        try:
            assert await wait_until(EFFECTS, live_database, expected=TOTAL, seconds=120) == TOTAL
        finally:
            stop.set()
            await task
    finally:
        await client.close()
    assert await per_aggregate_order_holds(live_database, "counter")
