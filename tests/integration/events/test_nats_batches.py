"""The NATS consumer applying its partitions' head messages together: one transaction for
them, acknowledged after the commit, split message by message on a failure."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import pytest
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError

from mercato.platform.db.database import Database
from mercato.platform.events.consumers import BatchContext, ConsumerRegistry
from mercato.platform.events.nats_consumer import NatsConsumer
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import NatsTransport
from tests.integration.events.conftest import (
    per_aggregate_order_holds,
    publish_things,
    scalar,
    wait_until,
)
from tests.support.events import ThingHappened, catalog, registry

EFFECTS = "SELECT count(*) FROM test_effect WHERE consumer = 'counter'"
DISTINCT_EFFECTS = "SELECT count(DISTINCT event_id) FROM test_effect WHERE consumer = 'counter'"
PARTITIONS = 8

pytestmark = pytest.mark.usefixtures("clean_nats")


async def _publish(database: Database, nats_client: Client, *, aggregates: int, each: int) -> None:
    await publish_things(database, aggregates=aggregates, per_aggregate=each)
    relay = Relay(database, NatsTransport(nats_client, domains=catalog().domains()))
    while await relay.publish_pending():
        pass


async def _heads(consumer: NatsConsumer) -> tuple[list[Any], list[Any]]:
    """The head message of every partition that has one, fetched by hand."""
    subscriptions = [await consumer.subscribe("test", p) for p in range(PARTITIONS)]
    heads = []
    for subscription in subscriptions:
        with contextlib.suppress(NatsTimeoutError, TimeoutError):
            heads += await subscription.fetch(1, timeout=0.5)
    return heads, subscriptions


async def _pending_acks(nats_client: Client, consumer: NatsConsumer) -> int:
    jetstream = nats_client.jetstream()
    total = 0
    for partition in range(PARTITIONS):
        durable = f"{consumer.group.name}--test--{partition}"
        info = await jetstream.consumer_info("MERCATO_TEST", durable)
        total += int(info.num_ack_pending)
    return total


async def test_the_heads_of_several_partitions_commit_in_one_transaction(
    live_database: Database, nats_client: Client
) -> None:
    await _publish(live_database, nats_client, aggregates=12, each=1)
    calls: list[int] = []
    consumers = ConsumerRegistry()

    @consumers.consumer_batch(ThingHappened, group="sizes")
    async def count(events: Sequence[ThingHappened], context: BatchContext) -> None:
        calls.append(len(events))

    (group,) = consumers.groups()
    consumer = NatsConsumer(live_database, group, nats_client.jetstream())
    heads, subscriptions = await _heads(consumer)
    assert len(heads) > 1
    await consumer.handle_batch(heads)
    assert calls == [len(heads)]  # one call, one transaction, one inbox statement
    assert await scalar(live_database, "SELECT count(*) FROM platform_inbox") == len(heads)
    assert await _pending_acks(nats_client, consumer) == 0  # acknowledged after the commit
    for subscription in subscriptions:
        await subscription.unsubscribe()


@pytest.mark.parametrize("batch_handler", [False, True], ids=["per-event", "batch"])
async def test_a_failing_head_neither_loses_nor_holds_back_the_other_partitions(
    live_database: Database, nats_client: Client, batch_handler: bool
) -> None:
    await publish_things(live_database, aggregates=6, per_aggregate=1, poison=frozenset({(2, 0)}))
    await Relay(live_database, NatsTransport(nats_client, domains={"test"})).publish_pending()
    (group,) = registry(max_attempts=2, batch=batch_handler).groups()
    consumer = NatsConsumer(live_database, group, nats_client.jetstream())
    heads, subscriptions = await _heads(consumer)
    await consumer.handle_batch(heads)
    # Split: the five good events committed and acknowledged, the poison one refused
    # (first attempt of two: redelivered later), nothing applied twice.
    assert await scalar(live_database, EFFECTS) == 5
    assert await scalar(live_database, DISTINCT_EFFECTS) == 5
    assert await _pending_acks(nats_client, consumer) == 1
    for subscription in subscriptions:
        await subscription.unsubscribe()


class AckLostConsumer(NatsConsumer):
    """Commits every batch, then "crashes" before acknowledging a message the first time
    it is delivered."""

    crashed: set[int]

    async def acknowledge(self, messages: Sequence[Any]) -> None:
        for message in messages:
            if message.metadata.sequence.stream in self.crashed:
                await message.ack()
                continue
            self.crashed.add(message.metadata.sequence.stream)
            await message.nak()  # redelivered at once, as after a crash


async def test_a_crash_between_commit_and_ack_redelivers_and_applies_once(
    live_database: Database, nats_client: Client
) -> None:
    await _publish(live_database, nats_client, aggregates=6, each=5)
    (group,) = registry(batch=True).groups()
    consumer = AckLostConsumer(live_database, group, nats_client.jetstream(), fetch_timeout_s=0.2)
    consumer.crashed = set()
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        assert await wait_until(EFFECTS, live_database, expected=30, seconds=60) == 30
        for _ in range(100):  # every message redelivered once, then acknowledged
            if len(consumer.crashed) == 30 and await _pending_acks(nats_client, consumer) == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
    assert len(consumer.crashed) == 30
    assert await _pending_acks(nats_client, consumer) == 0
    assert await scalar(live_database, EFFECTS) == 30
    assert await scalar(live_database, DISTINCT_EFFECTS) == 30
    assert await per_aggregate_order_holds(live_database, "counter")
