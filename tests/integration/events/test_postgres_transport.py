"""Relay and consumers over the PostgreSQL event log."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

import structlog
from sqlalchemy import text

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.consumers import ConsumerRegistry, HandlerContext, apply_once
from mercato.platform.events.contracts import Envelope
from mercato.platform.events.postgres_consumer import PostgresConsumer
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import PostgresTransport
from mercato.platform.jobs.tasks import reap_event_history_before
from tests.integration.events.conftest import (
    per_aggregate_order_holds,
    publish_bulk,
    publish_things,
    scalar,
    wait_until,
)
from tests.support.events import ThingHappened, ThingRenamed, registry

EFFECTS = "SELECT count(*) FROM test_effect WHERE consumer = 'counter'"


async def test_relay_gives_log_positions_in_order_per_aggregate(live_database: Database) -> None:
    await publish_things(live_database, aggregates=3, per_aggregate=5)
    relay = Relay(live_database, PostgresTransport())
    assert await relay.publish_pending() == 15
    assert await relay.publish_pending() == 0
    async with live_database.session() as session:
        rows = (
            await session.execute(
                text("SELECT aggregate_id, seq, log_position FROM platform_outbox ORDER BY seq")
            )
        ).all()
    assert all(row.log_position is not None for row in rows)
    assert [row.log_position for row in rows] == list(range(1, 16))


async def test_relay_waits_for_an_older_event_another_relay_holds(
    live_database: Database,
) -> None:
    await publish_things(live_database, aggregates=2, per_aggregate=3)
    relay = Relay(live_database, PostgresTransport())
    async with live_database.session() as other_relay, other_relay.begin():
        # Another relay has claimed thing-0's oldest event and not committed yet.
        await other_relay.execute(
            text(
                "SELECT id FROM platform_outbox WHERE aggregate_id = 'thing-0'"
                " ORDER BY seq LIMIT 1 FOR UPDATE"
            )
        )
        assert await relay.publish_pending() == 3  # thing-1 only: thing-0 must wait
        published = await scalar(
            live_database,
            "SELECT count(*) FROM platform_outbox WHERE aggregate_id = 'thing-0'"
            " AND published_at IS NOT NULL",
        )
        assert published == 0
    assert await relay.publish_pending() == 3


async def test_each_event_is_applied_once_even_when_redelivered(live_database: Database) -> None:
    await publish_things(live_database, aggregates=2, per_aggregate=5)
    await Relay(live_database, PostgresTransport()).publish_pending()
    (group,) = registry().groups()
    consumer = PostgresConsumer(live_database, group)
    assert await consumer.process_batch() == 10
    assert await scalar(live_database, EFFECTS) == 10
    # Rewind the position: every event is delivered again, none is applied again.
    async with live_database.session() as session, session.begin():
        await session.execute(text("UPDATE platform_consumer_position SET position = 0"))
    assert await consumer.process_batch() == 10
    assert await scalar(live_database, EFFECTS) == 10
    assert await per_aggregate_order_holds(live_database, "counter")


async def test_a_crash_after_the_effect_before_the_position_update_has_no_second_effect(
    live_database: Database,
) -> None:
    await publish_things(live_database, aggregates=1, per_aggregate=3)
    await Relay(live_database, PostgresTransport()).publish_pending()
    (group,) = registry().groups()
    async with live_database.session() as session:
        first = await session.scalar(
            text("SELECT envelope FROM platform_outbox ORDER BY log_position LIMIT 1")
        )
    # The effect of event 1 committed, then the consumer died before moving its position.
    assert await apply_once(group, Envelope.model_validate(first), live_database)
    await PostgresConsumer(live_database, group).process_batch()
    assert await scalar(live_database, EFFECTS) == 3


async def test_a_poison_event_is_retried_then_dead_lettered_and_the_rest_flow(
    live_database: Database,
) -> None:
    await publish_things(live_database, aggregates=2, per_aggregate=4, poison=frozenset({(0, 1)}))
    await Relay(live_database, PostgresTransport()).publish_pending()
    (group,) = registry(max_attempts=3).groups()
    consumer = PostgresConsumer(live_database, group)
    for _ in range(40):
        await consumer.process_batch()
        if await scalar(live_database, EFFECTS) == 7:
            break
        await asyncio.sleep(0.05)
    assert await scalar(live_database, EFFECTS) == 7
    async with live_database.session() as session:
        letter = (
            await session.execute(
                text("SELECT consumer, attempts, error, envelope FROM platform_dead_letter")
            )
        ).one()
    assert (letter.consumer, letter.attempts) == ("counter", 3)
    assert "can never be applied" in letter.error
    assert letter.envelope["payload"] == {"thing_id": "thing-0", "n": -1}


async def test_two_relays_and_three_consumers_apply_10000_events_exactly_once_in_order(
    live_database: Database, settings: Settings
) -> None:
    await publish_bulk(live_database, aggregates=50, per_aggregate=200)
    (group,) = registry().groups()
    databases = [Database.from_settings(settings.database) for _ in range(5)]
    stop = asyncio.Event()
    loops: list[Any] = [
        Relay(databases[0], PostgresTransport(), batch_size=300, poll_interval_s=0.1),
        Relay(databases[1], PostgresTransport(), batch_size=300, poll_interval_s=0.1),
        *(PostgresConsumer(db, group, batch_size=200, poll_interval_s=0.1) for db in databases[2:]),
    ]
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops]
    try:
        applied = await wait_until(EFFECTS, live_database, expected=10_000, seconds=120)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks)
        for database in databases:
            await database.dispose()
    assert applied == 10_000
    distinct = await scalar(
        live_database, "SELECT count(DISTINCT event_id) FROM test_effect WHERE consumer = 'counter'"
    )
    assert distinct == 10_000
    assert await per_aggregate_order_holds(live_database, "counter")
    assert (
        await scalar(
            live_database, "SELECT count(*) FROM platform_outbox WHERE published_at IS NULL"
        )
        == 0
    )


async def test_events_published_by_a_handler_carry_correlation_and_causation(
    live_database: Database,
) -> None:
    consumers = ConsumerRegistry()

    @consumers.consumer(ThingHappened, group="renamer")
    async def rename(event: ThingHappened, context: HandlerContext) -> None:
        context.uow.publish(
            ThingRenamed(thing_id=event.thing_id, new_name="renamed"), aggregate_id=event.thing_id
        )

    with structlog.contextvars.bound_contextvars(correlation_id="checkout-7"):
        async with UnitOfWork(live_database) as uow:
            cause = uow.publish(ThingHappened(thing_id="t", n=1), aggregate_id="t")
            await uow.commit()
    await Relay(live_database, PostgresTransport()).publish_pending()
    (group,) = consumers.groups()
    await PostgresConsumer(live_database, group).process_batch()
    async with live_database.session() as session:
        follow_up = await session.scalar(
            text("SELECT envelope FROM platform_outbox WHERE name = 'test.thing.renamed'")
        )
    assert follow_up["correlation_id"] == "checkout-7"
    assert follow_up["causation_id"] == str(cause.id)


async def test_reaping_keeps_unread_events_and_the_newest_position(
    live_database: Database,
) -> None:
    await publish_things(live_database, aggregates=1, per_aggregate=5)
    await Relay(live_database, PostgresTransport()).publish_pending()
    async with live_database.session() as session, session.begin():
        await session.execute(
            text("UPDATE platform_outbox SET published_at = now() - interval '30 days'")
        )
        await session.execute(
            text("INSERT INTO platform_consumer_position (consumer, position) VALUES ('slow', 3)")
        )
    future = dt.datetime.now(dt.UTC)
    positions = "SELECT array_agg(log_position ORDER BY log_position) FROM platform_outbox"
    assert await reap_event_history_before(live_database, future) == 3
    async with live_database.session() as session:
        assert await session.scalar(text(positions)) == [4, 5]
    async with live_database.session() as session, session.begin():
        await session.execute(text("UPDATE platform_consumer_position SET position = 5"))
    assert await reap_event_history_before(live_database, future) == 1
    async with live_database.session() as session:
        assert await session.scalar(text(positions)) == [5]  # the next position counts from it
