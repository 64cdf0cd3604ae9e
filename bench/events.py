"""End-to-end event throughput and latency: commit → relay → transport → consumer effect.

One worker process (the relay and one consumer group instance, as `mercato worker` runs
them) applies N events that another process (standing for the API) commits through the
unit of work meanwhile, 100 per commit over 50 aggregates; timed from the first commit to
the last effect, on the database's clock ("drain": the events committed first, the worker
timed from its start; the publisher's own rate is reported too, since it bounds "live").
On PostgreSQL three consumers are measured in interleaved rounds:
- `batched`: whole batches, the effect written by a batch handler (one INSERT per run);
- `batched inbox`: whole batches (one inbox statement), the effect one INSERT per event;
- `per event`: every event in its own savepoint with its own inbox INSERT, as before
  issue 15 (the same-run "before").
On NATS (`NATS_URL` set), the consumer applying its partitions' heads together and, as
the same-run "before", one message per transaction. Baselines in the same run: plain
INSERTs of N rows in the same commit sizes (PostgreSQL), N awaited JetStream publishes
(NATS). "Paced" latencies are commit → effect for 300
single-event commits at 100 events/s (the pipeline itself, not a queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import multiprocessing
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
import nats

from bench.event_workload import (
    AGGREGATES,
    EVENTS_PER_COMMIT,
    PACED_EVENTS,
    applied,
    bench_group,
    latencies_ms,
    now,
    publish,
    publish_elsewhere,
    publish_paced,
    reset,
    span_s,
)
from mercato.platform.config import DatabaseSettings
from mercato.platform.db.database import Database
from mercato.platform.events.nats_consumer import NatsConsumer
from mercato.platform.events.postgres_consumer import PostgresConsumer
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import NatsTransport, PostgresTransport, Transport

POLL_S = 0.05
CONSUMER_BATCH = 500


@dataclass(frozen=True)
class Result:
    transport: str
    consumer: str
    events: int
    drain_rates: list[float]
    baseline_per_s: float
    live_rate: float | None = None
    live_p50_ms: float = float("nan")
    live_p99_ms: float = float("nan")
    paced_p50_ms: float = float("nan")
    paced_p99_ms: float = float("nan")
    # Events/s the drain runs' publisher committed through the unit of work, alone.
    publish_rates: tuple[float, ...] = ()

    @property
    def rate(self) -> float:
        return statistics.median(self.drain_rates)

    @property
    def ratio(self) -> float:
        return self.rate / self.baseline_per_s


Mode = Literal["drain", "live", "paced"]


async def mercato_path(
    database: Database,
    transport: Transport,
    consumer: Any,
    events: int,
    *,
    database_url: str,
    mode: Mode,
    publish_rates: list[float] | None = None,
) -> tuple[float, list[float]]:
    """Events/s and commit → effect latencies (ms). `drain`: the events are committed
    first, then the worker is timed until the last effect (its capacity); `live`: another
    process commits them while the worker runs (timed from the first commit, on the
    database's clock); `paced`: single-event commits at a steady rate, from this process.
    A drain also appends to `publish_rates` how fast its events were committed, alone:
    the most the publisher of a live run can give the worker."""
    await reset(database)
    if mode == "drain":
        committing = time.perf_counter()
        await publish(database, events)
        if publish_rates is not None:
            publish_rates.append(events / (time.perf_counter() - committing))
    stop = asyncio.Event()
    started = time.perf_counter()
    started_on_database = await now(database)
    relay = Relay(database, transport, batch_size=500, poll_interval_s=0.05)
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    publisher = None
    try:
        if mode == "paced":
            await publish_paced(database, events)
        elif mode == "live":
            publisher = multiprocessing.get_context("spawn").Process(
                target=publish_elsewhere, args=(database_url, events)
            )
            publisher.start()
        deadline = started + 600
        while await applied(database) < events:
            if time.perf_counter() > deadline:
                raise TimeoutError("the consumer did not catch up in 10 minutes")
            # Seldom: the count runs on the worker's event loop and database.
            await asyncio.sleep(POLL_S)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        if publisher is not None:
            await asyncio.to_thread(publisher.join, 60)
    if mode == "live":
        # From the first event's creation to the last effect, on the database's clock: the
        # publisher's start-up (a Python process importing Mercato) is not the pipeline's.
        elapsed = await span_s(database)
    else:
        # To the last effect, not to the poll that saw it.
        elapsed = await span_s(database, since=started_on_database)
    return events / elapsed, await latencies_ms(database)


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


def _percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(fraction * len(values)))]


# name → (whole batches, batch handler)
POSTGRES_CONSUMERS = {
    "batched": (True, True),
    "batched inbox": (True, False),
    "per event (before)": (False, False),
}


async def run(
    database_url: str, nats_url: str | None, sizes: Sequence[int], *, rounds: int = 3
) -> list[Result]:
    database = Database.from_settings(DatabaseSettings(url=database_url))
    plain_url = database.primary.url.set(drivername="postgresql").render_as_string(False)
    results = []
    publish_rates: list[float] = []
    try:

        async def on_postgres(name: str, events: int, mode: Mode) -> tuple[float, list[float]]:
            whole, batch_handler = POSTGRES_CONSUMERS[name]
            consumer = PostgresConsumer(
                database,
                bench_group(batch_handler=batch_handler),
                batch_size=CONSUMER_BATCH,
                poll_interval_s=0.05,
                whole_batches=whole,
            )
            return await mercato_path(
                database,
                PostgresTransport(),
                consumer,
                events,
                database_url=database_url,
                mode=mode,
                publish_rates=publish_rates,
            )

        async def on_nats(
            url: str, events: int, mode: Mode, *, batched: bool = True
        ) -> tuple[float, list[float]]:
            client = await nats.connect(url)
            try:
                jetstream = client.jetstream()
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await jetstream.delete_stream("MERCATO_BENCH")
                group = bench_group(batch_handler=batched)
                consumer = NatsConsumer(
                    database, group, jetstream, fetch_timeout_s=0.2, whole_batches=batched
                )
                transport = NatsTransport(client, domains={"bench"})
                measured = await mercato_path(
                    database, transport, consumer, events, database_url=database_url, mode=mode
                )
                await jetstream.delete_stream("MERCATO_BENCH")
                return measured
            finally:
                await client.close()

        _, postgres_paced = await on_postgres("batched", PACED_EVENTS, "paced")
        nats_paced = (await on_nats(nats_url, PACED_EVENTS, "paced"))[1] if nats_url else []
        for events in sizes:
            rates: dict[str, list[float]] = {name: [] for name in POSTGRES_CONSUMERS}
            live: list[tuple[float, list[float]]] = []
            baselines = []
            for _ in range(rounds):
                for name in POSTGRES_CONSUMERS:
                    rates[name].append((await on_postgres(name, events, "drain"))[0])
                live.append(await on_postgres("batched", events, "live"))
                baselines.append(await postgres_baseline(plain_url, events))
            live_rate, live_latencies = sorted(live)[len(live) // 2]
            for name in POSTGRES_CONSUMERS:
                results.append(
                    Result("postgres", name, events, rates[name], statistics.median(baselines))
                )
            results[-len(POSTGRES_CONSUMERS)] = dataclasses.replace(
                results[-len(POSTGRES_CONSUMERS)],
                live_rate=live_rate,
                live_p50_ms=statistics.median(live_latencies),
                live_p99_ms=_percentile(live_latencies, 0.99),
                paced_p50_ms=statistics.median(postgres_paced),
                paced_p99_ms=_percentile(postgres_paced, 0.99),
                publish_rates=tuple(publish_rates),
            )
            publish_rates.clear()
            if nats_url is None:
                continue
            nats_bare = await nats_baseline(nats_url, events)
            one_by_one, _ = await on_nats(nats_url, events, "drain", batched=False)
            drain_rate, _ = await on_nats(nats_url, events, "drain")
            nats_live, nats_latencies = await on_nats(nats_url, events, "live")
            results.append(Result("nats", "per event (before)", events, [one_by_one], nats_bare))
            results.append(
                Result(
                    "nats",
                    "batched heads",
                    events,
                    [drain_rate],
                    nats_bare,
                    nats_live,
                    statistics.median(nats_latencies),
                    _percentile(nats_latencies, 0.99),
                    statistics.median(nats_paced),
                    _percentile(nats_paced, 0.99),
                )
            )
    finally:
        await database.dispose()
    return results


def report(results: Sequence[Result]) -> str:
    lines = [
        "| transport | consumer | events | worker drain events/s (median, range) |"
        " vs per event | bare inserts or publishes/s | drain ÷ bare |"
        " live end to end events/s | live p50 / p99 ms | paced p50 / p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    before = {
        (result.transport, result.events): result.rate
        for result in results
        if result.consumer.startswith("per event")
    }
    for result in results:
        baseline = before.get((result.transport, result.events))
        versus = "-" if baseline is None else f"{result.rate / baseline:.1f}"
        live = "-" if result.live_rate is None else f"{result.live_rate:,.0f}"
        lines.append(
            f"| {result.transport} | {result.consumer} | {result.events} | {result.rate:,.0f}"
            f" ({min(result.drain_rates):,.0f}-{max(result.drain_rates):,.0f}) | {versus} |"
            f" {result.baseline_per_s:,.0f} | {result.ratio:.3f} | {live} |"
            f" {_ms(result.live_p50_ms)} / {_ms(result.live_p99_ms)} |"
            f" {_ms(result.paced_p50_ms)} / {_ms(result.paced_p99_ms)} |"
        )
    for result in results:
        if result.publish_rates:
            rates = result.publish_rates
            lines.append(
                f"\nThe publisher alone ({result.events} events through the unit of work,"
                f" {EVENTS_PER_COMMIT} a commit, no worker running): median"
                f" {statistics.median(rates):,.0f} events/s ({min(rates):,.0f}-{max(rates):,.0f})."
            )
    return "\n".join(lines)


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f}"
