"""Test event contracts and a consumer group whose effect is a row per applied event."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text

from mercato.platform.events.consumers import (
    BatchContext,
    ConsumerRegistry,
    HandlerContext,
    RetryPolicy,
)
from mercato.platform.events.contracts import EventCatalog, EventPayload

EFFECTS_DDL = """
CREATE TABLE IF NOT EXISTS test_effect (
    applied_order bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    aggregate_id text NOT NULL,
    n integer NOT NULL
)
"""
POISON = -1


class ThingHappened(EventPayload):
    """Something happened to a thing (tests only)."""

    name = "test.thing.happened"
    version = 1
    aggregate_type = "test.thing"

    thing_id: str
    n: int


class ThingRenamed(EventPayload):
    """A second contract in the same domain, handled by nobody."""

    name = "test.thing.renamed"
    version = 1
    aggregate_type = "test.thing"

    thing_id: str
    new_name: str


def catalog() -> EventCatalog:
    return EventCatalog([ThingHappened, ThingRenamed])


_RECORD_MANY = text(
    "INSERT INTO test_effect (consumer, event_id, aggregate_id, n)"
    " SELECT :consumer, e, a, n FROM unnest(CAST(:event_ids AS uuid[]),"
    " CAST(:aggregate_ids AS text[]), CAST(:ns AS integer[])) WITH ORDINALITY AS t(e, a, n, o)"
    " ORDER BY o"
)


def registry(
    *, groups: tuple[str, ...] = ("counter",), max_attempts: int = 3, batch: bool = False
) -> ConsumerRegistry:
    """Consumer groups that record each applied event; `n == POISON` always fails.

    `batch`: the handler records a whole run of events with one statement, in the order
    given (the row's `applied_order` follows it)."""
    consumers = ConsumerRegistry()
    if batch:
        for group in groups:
            _record_many(consumers, group, max_attempts)
        return consumers
    for group in groups:

        @consumers.consumer(
            ThingHappened,
            group=group,
            retry=RetryPolicy(max_attempts=max_attempts, backoff_s=(0.05, 0.1)),
        )
        async def record(event: ThingHappened, context: HandlerContext, group: str = group) -> None:
            if event.n == POISON:
                raise ValueError("this event can never be applied")
            await context.uow.session.execute(
                text(
                    "INSERT INTO test_effect (consumer, event_id, aggregate_id, n)"
                    " VALUES (:consumer, :event_id, :aggregate_id, :n)"
                ),
                {
                    "consumer": group,
                    "event_id": context.envelope.id,
                    "aggregate_id": event.thing_id,
                    "n": event.n,
                },
            )

    return consumers


def _record_many(consumers: ConsumerRegistry, group: str, max_attempts: int) -> None:
    @consumers.consumer_batch(
        ThingHappened,
        group=group,
        retry=RetryPolicy(max_attempts=max_attempts, backoff_s=(0.05, 0.1)),
    )
    async def record_many(events: Sequence[ThingHappened], context: BatchContext) -> None:
        if any(event.n == POISON for event in events):
            raise ValueError("this event can never be applied")
        await context.uow.session.execute(
            _RECORD_MANY,
            {
                "consumer": group,
                "event_ids": [envelope.id for envelope in context.envelopes],
                "aggregate_ids": [event.thing_id for event in events],
                "ns": [event.n for event in events],
            },
        )
