"""The events benchmark's workload: the event, the effect table, committing events the way
the API does, and reading the effects back (`bench/events.py` runs it)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

from sqlalchemy import text

from mercato.platform.config import DatabaseSettings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.consumers import (
    BatchContext,
    ConsumerGroup,
    ConsumerRegistry,
    HandlerContext,
)
from mercato.platform.events.contracts import EventPayload

EVENTS_PER_COMMIT = 100
AGGREGATES = 50


class BenchTick(EventPayload):
    name = "bench.tick.happened"
    version = 1
    aggregate_type = "bench.tick"

    n: int


_INSERT_ONE = text("INSERT INTO bench_effect (event_id, occurred_at) VALUES (:id, :at)")
_INSERT_MANY = text(
    "INSERT INTO bench_effect (event_id, occurred_at)"
    " SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[]))"
)


def bench_group(*, batch_handler: bool) -> ConsumerGroup:
    registry = ConsumerRegistry()
    if batch_handler:

        @registry.consumer_batch(BenchTick, group="bench")
        async def apply_many(events: Sequence[BenchTick], context: BatchContext) -> None:
            await context.uow.session.execute(
                _INSERT_MANY,
                {
                    "ids": [envelope.id for envelope in context.envelopes],
                    "ats": [envelope.occurred_at for envelope in context.envelopes],
                },
            )

    else:

        @registry.consumer(BenchTick, group="bench")
        async def apply(event: BenchTick, context: HandlerContext) -> None:
            await context.uow.session.execute(
                _INSERT_ONE, {"id": context.envelope.id, "at": context.envelope.occurred_at}
            )

    (group,) = registry.groups()
    return group


async def reset(database: Database) -> None:
    async with database.session() as session, session.begin():
        await session.execute(
            text(
                "CREATE TABLE IF NOT EXISTS bench_effect (event_id uuid PRIMARY KEY,"
                " occurred_at timestamptz NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
        )
        await session.execute(
            text(
                "TRUNCATE bench_effect, platform_outbox, platform_inbox,"
                " platform_consumer_position, platform_dead_letter"
            )
        )


async def publish(database: Database, events: int) -> None:
    for start in range(0, events, EVENTS_PER_COMMIT):
        async with UnitOfWork(database) as uow:
            for n in range(start, min(start + EVENTS_PER_COMMIT, events)):
                uow.publish(BenchTick(n=n), aggregate_id=f"tick-{n % AGGREGATES}")
            await uow.commit()


def publish_elsewhere(database_url: str, events: int) -> None:
    """The API's part, in a process of its own (the worker's process is what is measured)."""

    async def commit_all() -> None:
        database = Database.from_settings(DatabaseSettings(url=database_url))
        try:
            await publish(database, events)
        finally:
            await database.dispose()

    asyncio.run(commit_all())


async def applied(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(text("SELECT count(*) FROM bench_effect")) or 0)


async def now(database: Database) -> dt.datetime:
    async with database.session() as session:
        now = await session.scalar(text("SELECT clock_timestamp()"))
        assert isinstance(now, dt.datetime)
        return now


async def span_s(database: Database, *, since: dt.datetime | None = None) -> float:
    """Seconds from `since` (default: the first event's creation) to the last effect."""
    async with database.session() as session:
        span = await session.scalar(
            text(
                "SELECT extract(epoch FROM max(applied_at)"
                " - coalesce(CAST(:since AS timestamptz), min(occurred_at))) FROM bench_effect"
            ),
            {"since": since},
        )
        return float(span)


async def latencies_ms(database: Database) -> list[float]:
    async with database.session() as session:
        rows = await session.execute(
            text("SELECT extract(epoch FROM applied_at - occurred_at) * 1000 FROM bench_effect")
        )
        return sorted(float(value) for (value,) in rows)


PACED_EVENTS = 300
PACED_RATE_PER_S = 100


async def publish_paced(database: Database, events: int) -> None:
    """One event per commit at a steady rate the pipeline can sustain: the latency then is
    the pipeline's own (NOTIFY wake-ups, relay, consumer), not time spent in a queue."""
    for n in range(events):
        async with UnitOfWork(database) as uow:
            uow.publish(BenchTick(n=n), aggregate_id=f"tick-{n % AGGREGATES}")
            await uow.commit()
        await asyncio.sleep(1 / PACED_RATE_PER_S)
