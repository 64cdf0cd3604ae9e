"""Test event contracts and a consumer group whose effect is a row per applied event."""

from __future__ import annotations

from sqlalchemy import text

from mercato.platform.events.consumers import ConsumerRegistry, HandlerContext, RetryPolicy
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


def registry(*, groups: tuple[str, ...] = ("counter",), max_attempts: int = 3) -> ConsumerRegistry:
    """Consumer groups that record each applied event; `n == POISON` always fails."""
    consumers = ConsumerRegistry()
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
