"""End-to-end event throughput and latency: commit → relay → transport → consumer effect.

For each transport and size, Mercato's path (unit of work + outbox, relay, one consumer
applying an effect through the inbox) is measured against a bare publish loop on the same
transport in the same run: plain INSERTs (PostgreSQL) or awaited JetStream publishes
(NATS). The ratio is what to watch; absolute numbers depend on this noisy machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats
from sqlalchemy import text

from mercato.platform.config import DatabaseSettings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.consumers import ConsumerRegistry, HandlerContext
from mercato.platform.events.contracts import EventPayload
from mercato.platform.events.nats_consumer import NatsConsumer
from mercato.platform.events.postgres_consumer import PostgresConsumer
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import NatsTransport, PostgresTransport, Transport

EVENTS_PER_COMMIT = 100
AGGREGATES = 50


class BenchTick(EventPayload):
    name = "bench.tick.happened"
    version = 1
    aggregate_type = "bench.tick"

    n: int


@dataclass(frozen=True)
class Result:
    transport: str
    events: int
    mercato_per_s: float
    baseline_per_s: float
    p50_ms: float
    p99_ms: float
    paced_p50_ms: float
    paced_p99_ms: float

    @property
    def ratio(self) -> float:
        return self.mercato_per_s / self.baseline_per_s


def _registry() -> ConsumerRegistry:
    registry = ConsumerRegistry()

    @registry.consumer(BenchTick, group="bench")
    async def apply(event: BenchTick, context: HandlerContext) -> None:
        await context.uow.session.execute(
            text("INSERT INTO bench_effect (event_id, occurred_at) VALUES (:id, :at)"),
            {"id": context.envelope.id, "at": context.envelope.occurred_at},
        )

    return registry


async def _reset(database: Database) -> None:
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


async def _publish(database: Database, events: int) -> None:
    for start in range(0, events, EVENTS_PER_COMMIT):
        async with UnitOfWork(database) as uow:
            for n in range(start, min(start + EVENTS_PER_COMMIT, events)):
                uow.publish(BenchTick(n=n), aggregate_id=f"tick-{n % AGGREGATES}")
            await uow.commit()


async def _applied(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(text("SELECT count(*) FROM bench_effect")) or 0)


async def _latencies_ms(database: Database) -> list[float]:
    async with database.session() as session:
        rows = await session.execute(
            text("SELECT extract(epoch FROM applied_at - occurred_at) * 1000 FROM bench_effect")
        )
        return sorted(float(value) for (value,) in rows)


PACED_EVENTS = 300
PACED_RATE_PER_S = 100


async def _publish_paced(database: Database, events: int) -> None:
    """One event per commit at a steady rate the pipeline can sustain: the latency then is
    the pipeline's own (NOTIFY wake-ups, relay, consumer), not time spent in a queue."""
    for n in range(events):
        async with UnitOfWork(database) as uow:
            uow.publish(BenchTick(n=n), aggregate_id=f"tick-{n % AGGREGATES}")
            await uow.commit()
        await asyncio.sleep(1 / PACED_RATE_PER_S)


async def mercato_path(
    database: Database, transport: Transport, consumer: Any, events: int, *, paced: bool = False
) -> tuple[float, list[float]]:
    await _reset(database)
    stop = asyncio.Event()
    relay = Relay(database, transport, batch_size=500, poll_interval_s=0.05)
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    started = time.perf_counter()
    try:
        await (_publish_paced if paced else _publish)(database, events)
        deadline = started + 600
        while await _applied(database) < events:
            if time.perf_counter() > deadline:
                raise TimeoutError("the consumer did not catch up in 10 minutes")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return events / elapsed, await _latencies_ms(database)


async def postgres_baseline(url: str, events: int) -> float:
    """The same number of rows, written with plain INSERTs in the same commit sizes."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "CREATE TEMP TABLE bench_raw (id uuid PRIMARY KEY, body jsonb NOT NULL)"
        )
        started = time.perf_counter()
        for start in range(0, events, EVENTS_PER_COMMIT):
            async with connection.transaction():
                await connection.executemany(
                    "INSERT INTO bench_raw VALUES ($1, $2)",
                    [
                        (uuid.uuid4(), f'{{"n": {n}}}')
                        for n in range(start, min(start + EVENTS_PER_COMMIT, events))
                    ],
                )
        return events / (time.perf_counter() - started)
    finally:
        await connection.close()


async def nats_baseline(nats_url: str, events: int) -> float:
    """Awaited JetStream publishes of the same count into a scratch stream."""
    client = await nats.connect(nats_url)
    try:
        jetstream = client.jetstream()
        stream = "MERCATO_BENCH_RAW"
        await jetstream.add_stream(name=stream, subjects=["bench-raw.>"])
        try:
            started = time.perf_counter()
            for n in range(events):
                await jetstream.publish(
                    f"bench-raw.{n % AGGREGATES}",
                    b'{"n": %d}' % n,
                    headers={"Nats-Msg-Id": str(uuid.uuid4())},
                )
            return events / (time.perf_counter() - started)
        finally:
            await jetstream.delete_stream(stream)
    finally:
        await client.close()


def _result(
    transport: str,
    events: int,
    *,
    rate: float,
    baseline: float,
    latencies: Sequence[float],
    paced: Sequence[float],
) -> Result:
    return Result(
        transport,
        events,
        rate,
        baseline,
        statistics.median(latencies),
        _percentile(latencies, 0.99),
        statistics.median(paced),
        _percentile(paced, 0.99),
    )


def _percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(fraction * len(values)))]


async def run(database_url: str, nats_url: str | None, sizes: Sequence[int]) -> list[Result]:
    database = Database.from_settings(DatabaseSettings(url=database_url))
    plain_url = database.primary.url.set(drivername="postgresql").render_as_string(False)
    results = []
    try:
        (group,) = _registry().groups()

        async def on_postgres(events: int, *, paced: bool = False) -> tuple[float, list[float]]:
            consumer = PostgresConsumer(database, group, batch_size=500, poll_interval_s=0.05)
            return await mercato_path(database, PostgresTransport(), consumer, events, paced=paced)

        async def on_nats(
            url: str, events: int, *, paced: bool = False
        ) -> tuple[float, list[float]]:
            client = await nats.connect(url)
            try:
                jetstream = client.jetstream()
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await jetstream.delete_stream("MERCATO_BENCH")
                consumer = NatsConsumer(database, group, jetstream, fetch_timeout_s=0.2)
                transport = NatsTransport(client, domains={"bench"})
                measured = await mercato_path(database, transport, consumer, events, paced=paced)
                await jetstream.delete_stream("MERCATO_BENCH")
                return measured
            finally:
                await client.close()

        _, postgres_paced = await on_postgres(PACED_EVENTS, paced=True)
        nats_paced = (await on_nats(nats_url, PACED_EVENTS, paced=True))[1] if nats_url else []
        for events in sizes:
            rate, latencies = await on_postgres(events)
            baseline = await postgres_baseline(plain_url, events)
            results.append(
                _result(
                    "postgres",
                    events,
                    rate=rate,
                    baseline=baseline,
                    latencies=latencies,
                    paced=postgres_paced,
                )
            )
            if nats_url is None:
                continue
            rate, latencies = await on_nats(nats_url, events)
            baseline = await nats_baseline(nats_url, events)
            results.append(
                _result(
                    "nats",
                    events,
                    rate=rate,
                    baseline=baseline,
                    latencies=latencies,
                    paced=nats_paced,
                )
            )
    finally:
        await database.dispose()
    return results


def report(results: Sequence[Result]) -> str:
    lines = [
        "| transport | events | Mercato events/s | bare publish/s | ratio |"
        " backlog p50 / p99 ms | paced p50 / p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| {result.transport} | {result.events} | {result.mercato_per_s:,.0f} |"
            f" {result.baseline_per_s:,.0f} | {result.ratio:.3f} |"
            f" {result.p50_ms:,.0f} / {result.p99_ms:,.0f} |"
            f" {result.paced_p50_ms:.0f} / {result.paced_p99_ms:.0f} |"
        )
    return "\n".join(lines)
