"""The PostgreSQL consumer applying whole batches: boundaries, a failing event inside a
batch, order per aggregate, redelivery, and events published by handlers of a split batch."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.consumers import (
    ConsumerRegistry,
    HandlerContext,
    apply_batch_in,
    apply_once,
)
from mercato.platform.events.contracts import Envelope
from mercato.platform.events.postgres_consumer import PostgresConsumer
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import PostgresTransport
from tests.integration.events.conftest import (
    per_aggregate_order_holds,
    publish_bulk,
    publish_things,
    scalar,
)
from tests.support.events import POISON, ThingHappened, ThingRenamed, registry

EFFECTS = "SELECT count(*) FROM test_effect WHERE consumer = 'counter'"
DISTINCT_EFFECTS = "SELECT count(DISTINCT event_id) FROM test_effect WHERE consumer = 'counter'"
POSITION = "SELECT position FROM platform_consumer_position WHERE consumer = 'counter'"


async def _relay_all(database: Database) -> None:
    relay = Relay(database, PostgresTransport())
    while await relay.publish_pending():
        pass


async def _drain(consumer: PostgresConsumer, database: Database, *, expected: int) -> None:
    """Process batches (waiting out retry backoffs) until `expected` effects exist."""
    for _ in range(100):
        await consumer.process_batch()
        if await scalar(database, EFFECTS) >= expected:
            return
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("batch_handler", [False, True], ids=["per-event", "batch"])
async def test_batches_end_where_the_size_says_and_apply_every_event_once(
    live_database: Database, batch_handler: bool
) -> None:
    await publish_bulk(live_database, aggregates=5, per_aggregate=5)  # 25 events
    await _relay_all(live_database)
    (group,) = registry(batch=batch_handler).groups()
    consumer = PostgresConsumer(live_database, group, batch_size=10)
    read = [await consumer.process_batch() for _ in range(4)]
    assert read == [10, 10, 5, 0]
    assert await scalar(live_database, EFFECTS) == 25
    assert await scalar(live_database, DISTINCT_EFFECTS) == 25
    assert await scalar(live_database, POSITION) == 25
    assert await per_aggregate_order_holds(live_database, "counter")


@pytest.mark.parametrize("batch_handler", [False, True], ids=["per-event", "batch"])
async def test_a_failing_event_in_a_batch_neither_loses_nor_duplicates_the_others(
    live_database: Database, batch_handler: bool
) -> None:
    # 4 aggregates x 5 events, one unit of work per event: thing-2's third event (the 11th
    # of the log) always fails, in the middle of a single batch of 20.
    await publish_things(live_database, aggregates=4, per_aggregate=5, poison=frozenset({(2, 2)}))
    await _relay_all(live_database)
    (group,) = registry(max_attempts=2, batch=batch_handler).groups()
    consumer = PostgresConsumer(live_database, group, batch_size=20)

    assert await consumer.process_batch() == 20
    # The ten events before the failing one committed with the position, none after it.
    assert await scalar(live_database, EFFECTS) == 10
    assert await scalar(live_database, POSITION) == 10
    assert await scalar(live_database, "SELECT count(*) FROM platform_inbox") == 10

    await _drain(consumer, live_database, expected=19)
    assert await scalar(live_database, EFFECTS) == 19
    assert await scalar(live_database, DISTINCT_EFFECTS) == 19
    assert await scalar(live_database, f"SELECT count(*) FROM test_effect WHERE n = {POISON}") == 0
    assert await scalar(live_database, "SELECT count(*) FROM platform_dead_letter") == 1
    assert await scalar(live_database, POSITION) == 20
    assert await per_aggregate_order_holds(live_database, "counter")


async def test_order_per_aggregate_holds_across_batches_of_a_batch_handler(
    live_database: Database,
) -> None:
    await publish_things(live_database, aggregates=7, per_aggregate=12)  # interleaved
    await _relay_all(live_database)
    (group,) = registry(batch=True).groups()
    consumer = PostgresConsumer(live_database, group, batch_size=13)
    while await consumer.process_batch():
        pass
    assert await scalar(live_database, EFFECTS) == 84
    assert await per_aggregate_order_holds(live_database, "counter")
    # Not only per aggregate: the effects follow the log exactly.
    out_of_log_order = await scalar(
        live_database,
        "SELECT count(*) FROM (SELECT o.log_position, lag(o.log_position) OVER"
        " (ORDER BY e.applied_order) AS previous FROM test_effect e"
        " JOIN platform_outbox o ON o.id = e.event_id) t WHERE t.log_position < t.previous",
    )
    assert out_of_log_order == 0


async def test_a_batch_partly_applied_before_applies_only_the_rest(
    live_database: Database,
) -> None:
    await publish_things(live_database, aggregates=2, per_aggregate=5)
    await _relay_all(live_database)
    (group,) = registry(batch=True).groups()
    async with live_database.session() as session:
        envelopes = (
            await session.scalars(
                text("SELECT envelope FROM platform_outbox ORDER BY log_position LIMIT 3")
            )
        ).all()
    # Three effects committed elsewhere (a crash before the position moved, say).
    for raw in envelopes:
        assert await apply_once(group, Envelope.model_validate(raw), live_database)
    consumer = PostgresConsumer(live_database, group)
    assert await consumer.process_batch() == 10
    assert await scalar(live_database, EFFECTS) == 10
    assert await scalar(live_database, DISTINCT_EFFECTS) == 10
    # Rewound: everything is delivered again and nothing is applied again.
    async with live_database.session() as session, session.begin():
        await session.execute(text("UPDATE platform_consumer_position SET position = 0"))
    assert await consumer.process_batch() == 10
    assert await scalar(live_database, EFFECTS) == 10


async def test_events_published_in_a_batch_that_was_split_are_written_once(
    live_database: Database,
) -> None:
    consumers = ConsumerRegistry()

    @consumers.consumer(ThingHappened, group="renamer")
    async def rename(event: ThingHappened, context: HandlerContext) -> None:
        if event.n == POISON:
            raise ValueError("this event can never be applied")
        context.uow.publish(
            ThingRenamed(thing_id=event.thing_id, new_name=f"n{event.n}"),
            aggregate_id=event.thing_id,
        )

    await publish_things(live_database, aggregates=3, per_aggregate=3, poison=frozenset({(1, 1)}))
    await _relay_all(live_database)
    (group,) = consumers.groups()
    consumer = PostgresConsumer(live_database, group)
    assert await consumer.process_batch() == 9
    renamed = "SELECT count(*) FROM platform_outbox WHERE name = 'test.thing.renamed'"
    # The whole batch was undone (with the events it published), then the four events
    # before the failing one applied one by one.
    assert await scalar(live_database, renamed) == 4
    assert (
        await scalar(
            live_database,
            "SELECT count(DISTINCT envelope->'payload') FROM"
            " platform_outbox WHERE name = 'test.thing.renamed'",
        )
        == 4
    )


@pytest.mark.parametrize("batch_handler", [False, True], ids=["per-event", "batch"])
async def test_the_same_event_twice_in_one_batch_is_applied_once(
    live_database: Database, batch_handler: bool
) -> None:
    await publish_things(live_database, aggregates=1, per_aggregate=2)
    async with live_database.session() as session:
        first, second = (
            await session.scalars(text("SELECT envelope FROM platform_outbox ORDER BY seq"))
        ).all()
    (group,) = registry(batch=batch_handler).groups()
    # A redelivery landing in the same batch as the original (a NATS fetch, say).
    batch = [Envelope.model_validate(raw) for raw in (first, second, first)]
    async with UnitOfWork(live_database) as uow:
        assert await apply_batch_in(uow, group, batch) == 2
        await uow.commit()
    assert await scalar(live_database, EFFECTS) == 2
    assert await scalar(live_database, DISTINCT_EFFECTS) == 2
    assert await per_aggregate_order_holds(live_database, "counter")


async def test_a_batch_that_fails_before_its_position_row_exists_still_moves_on(
    live_database: Database,
) -> None:
    # The group's very first batch fails whole and is redone event by event: the position
    # row it created must survive the rollback of that first attempt.
    await publish_things(live_database, aggregates=2, per_aggregate=3, poison=frozenset({(1, 1)}))
    await _relay_all(live_database)
    (group,) = registry(max_attempts=5, batch=True).groups()
    assert await PostgresConsumer(live_database, group).process_batch() == 6
    assert await scalar(live_database, EFFECTS) == 3
    assert await scalar(live_database, POSITION) == 3
    assert (
        await scalar(live_database, "SELECT failed_attempts FROM platform_consumer_position") == 1
    )
