"""Relay and consumers over NATS JetStream (a real nats-server)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.events.nats_consumer import NatsConsumer
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import (
    NatsTransport,
    PendingMessage,
    ensure_stream,
    nats_stream,
)
from tests.integration.events.conftest import (
    PrivateNatsServer,
    per_aggregate_order_holds,
    publish_bulk,
    publish_things,
    scalar,
    wait_until,
)
from tests.support.events import catalog, registry

EFFECTS = "SELECT count(*) FROM test_effect WHERE consumer = 'counter'"
UNPUBLISHED = "SELECT count(*) FROM platform_outbox WHERE published_at IS NULL"

pytestmark = pytest.mark.usefixtures("clean_nats")


def transport_for(nats_client: Client) -> NatsTransport:
    return NatsTransport(nats_client, domains=catalog().domains())


async def stream_messages(nats_client: Client) -> int:
    info = await nats_client.jetstream().stream_info(nats_stream("test"))
    return int(info.state.messages)


async def run_until(
    loops: Sequence[Any], database: Database, *, sql: str, expected: int, seconds: float = 60
) -> int:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops]
    try:
        return await wait_until(sql, database, expected=expected, seconds=seconds)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks)


async def test_events_reach_a_consumer_once_and_in_order(
    live_database: Database, nats_client: Client
) -> None:
    await publish_things(live_database, aggregates=3, per_aggregate=10)
    assert await Relay(live_database, transport_for(nats_client)).publish_pending() == 30
    assert await stream_messages(nats_client) == 30
    (group,) = registry().groups()
    consumer = NatsConsumer(live_database, group, nats_client.jetstream(), fetch_timeout_s=0.2)
    assert await run_until([consumer], live_database, sql=EFFECTS, expected=30) == 30
    assert await per_aggregate_order_holds(live_database, "counter")


class CrashAfterPublishing:
    """Publishes everything, then dies before the relay can mark anything as sent."""

    name = "nats"

    def __init__(self, inner: NatsTransport) -> None:
        self.inner = inner

    async def publish(self, messages: Sequence[PendingMessage], *, session: AsyncSession) -> None:
        await self.inner.publish(messages, session=session)
        raise SystemExit("relay process killed after the broker acknowledged")


async def test_a_relay_crash_after_publish_is_absorbed_by_broker_dedup(
    live_database: Database, nats_client: Client
) -> None:
    await publish_things(live_database, aggregates=2, per_aggregate=5)
    with pytest.raises(SystemExit):
        await Relay(
            live_database, CrashAfterPublishing(transport_for(nats_client))
        ).publish_pending()
    assert await scalar(live_database, UNPUBLISHED) == 10  # the crash rolled the marks back
    assert await Relay(live_database, transport_for(nats_client)).publish_pending() == 10
    assert await stream_messages(nats_client) == 10  # Nats-Msg-Id dropped the 10 duplicates


async def test_a_poison_message_is_dead_lettered_and_the_rest_flow(
    live_database: Database, nats_client: Client
) -> None:
    await publish_things(live_database, aggregates=2, per_aggregate=4, poison=frozenset({(1, 0)}))
    await Relay(live_database, transport_for(nats_client)).publish_pending()
    (group,) = registry(max_attempts=3).groups()
    consumer = NatsConsumer(live_database, group, nats_client.jetstream(), fetch_timeout_s=0.2)
    assert await run_until([consumer], live_database, sql=EFFECTS, expected=7) == 7
    assert await scalar(live_database, "SELECT attempts FROM platform_dead_letter") == 3
    dead = await nats_client.jetstream().stream_info("MERCATO_DEAD_LETTERS")
    assert dead.state.messages == 1


async def test_two_relays_and_three_consumers_apply_10000_events_exactly_once_in_order(
    live_database: Database, nats_client: Client, settings: Settings, clean_nats: str
) -> None:
    await publish_bulk(live_database, aggregates=50, per_aggregate=200)
    (group,) = registry().groups()
    databases = [Database.from_settings(settings.database) for _ in range(5)]
    clients = [await nats.connect(clean_nats) for _ in range(5)]
    loops: list[Any] = [
        Relay(databases[i], transport_for(clients[i]), batch_size=500, poll_interval_s=0.1)
        for i in (0, 1)
    ]
    loops += [
        NatsConsumer(databases[i], group, clients[i].jetstream(), fetch_timeout_s=0.2)
        for i in (2, 3, 4)
    ]
    try:
        applied = await run_until(loops, live_database, sql=EFFECTS, expected=10_000, seconds=240)
    finally:
        for connection in clients:
            await connection.close()
        for database in databases:
            await database.dispose()
    assert applied == 10_000
    distinct = await scalar(
        live_database, "SELECT count(DISTINCT event_id) FROM test_effect WHERE consumer = 'counter'"
    )
    assert distinct == 10_000
    assert await per_aggregate_order_holds(live_database, "counter")
    assert await stream_messages(nats_client) == 10_000


async def test_writes_continue_while_the_broker_is_down_and_drain_after(
    live_database: Database, private_nats: PrivateNatsServer
) -> None:
    connection = await nats.connect(
        private_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    relay = Relay(
        live_database,
        NatsTransport(connection, domains={"test"}, publish_timeout_s=0.5),
        poll_interval_s=0.1,
        max_backoff_s=0.5,
    )
    (group,) = registry().groups()
    consumer = NatsConsumer(live_database, group, connection.jetstream(), fetch_timeout_s=0.2)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    try:
        await publish_things(live_database, aggregates=3, per_aggregate=5)
        assert await wait_until(EFFECTS, live_database, expected=15, seconds=30) == 15

        private_nats.stop()
        # Writes still commit while the broker is down.
        await publish_things(live_database, aggregates=3, per_aggregate=5, first=5)
        await asyncio.sleep(1.0)
        assert await scalar(live_database, UNPUBLISHED) == 15  # the backlog grows

        private_nats.start()  # same store directory: the stream survives
        assert await wait_until(EFFECTS, live_database, expected=30, seconds=60) == 30
        assert await scalar(live_database, UNPUBLISHED) == 0
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks)
        await connection.close()
    assert await per_aggregate_order_holds(live_database, "counter")
    distinct = await scalar(live_database, "SELECT count(DISTINCT event_id) FROM test_effect")
    assert distinct == 30


async def test_streams_can_be_ensured_by_many_processes_at_once(clean_nats: str) -> None:
    clients = [await nats.connect(clean_nats) for _ in range(8)]
    try:
        await asyncio.gather(*(ensure_stream(client.jetstream(), "test") for client in clients))
        info = await clients[0].jetstream().stream_info(nats_stream("test"))
        assert info.config.subjects == ["mercato.test.>"]
    finally:
        for nats_client in clients:
            await nats_client.close()
