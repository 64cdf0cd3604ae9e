"""Relay throughput: committed outbox rows → published and marked, per transport.

N events are committed to the outbox first (not timed; 50 aggregates, as in
`bench/events.py`), then one relay drains them (`Relay.publish_pending` until nothing is
left, batches of `EVENTS_RELAY_BATCH_SIZE`). Measured in the same run, on the same
messages (subjects, bodies, `Nats-Msg-Id` headers read from the outbox beforehand):

- a bare nats-py loop that publishes them all asynchronously and waits for every ack (the
  ceiling of one client connection; it claims and marks nothing),
- a bare loop that awaits each ack before the next publish (what the relay did before it
  pipelined),
- the relay on the PostgreSQL transport.

Scenarios run in interleaved rounds; the report gives medians and the range of the ratio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import nats
from nats.js.errors import NotFoundError
from sqlalchemy import text

from bench.event_workload import AGGREGATES, BenchTick
from mercato.platform.config import DatabaseSettings, EventSettings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.relay import Relay
from mercato.platform.events.transports import (
    NatsTransport,
    PostgresTransport,
    ensure_stream,
    nats_stream,
    nats_subject,
    partition_of,
)

EVENTS_PER_COMMIT = 1_000
STREAM = nats_stream("bench")


@dataclass(frozen=True)
class RelayResults:
    events: int
    rounds: int
    rates: dict[str, list[float]]

    def median(self, scenario: str) -> float:
        return statistics.median(self.rates[scenario])

    def ratios(self, scenario: str, baseline: str) -> list[float]:
        return [a / b for a, b in zip(self.rates[scenario], self.rates[baseline], strict=True)]


@dataclass(frozen=True)
class BareMessage:
    subject: str
    body: bytes
    msg_id: str


async def _fill_outbox(database: Database, events: int) -> None:
    async with database.session() as session, session.begin():
        await session.execute(
            text("TRUNCATE platform_outbox, platform_inbox, platform_consumer_position")
        )
    for start in range(0, events, EVENTS_PER_COMMIT):
        async with UnitOfWork(database) as uow:
            for n in range(start, min(start + EVENTS_PER_COMMIT, events)):
                uow.publish(BenchTick(n=n), aggregate_id=f"tick-{n % AGGREGATES}")
            await uow.commit()
    async with database.session() as session, session.begin():
        await session.execute(text("ANALYZE platform_outbox"))


async def _bare_messages(database: Database, partitions: int) -> list[BareMessage]:
    """The relay's messages, exactly as it would publish them."""
    async with database.session() as session:
        rows = await session.execute(
            text("SELECT id, name, aggregate_type, aggregate_id, envelope FROM platform_outbox")
        )
        return [
            BareMessage(
                nats_subject(name, partition_of(aggregate_type, aggregate_id, partitions)),
                json.dumps(envelope, separators=(",", ":")).encode(),
                str(event_id),
            )
            for event_id, name, aggregate_type, aggregate_id, envelope in rows
        ]


async def _fresh_stream(jetstream: Any) -> None:
    with contextlib.suppress(NotFoundError):
        await jetstream.delete_stream(STREAM)
    await ensure_stream(jetstream, "bench")


async def _drain(relay: Relay) -> float:
    started = time.perf_counter()
    published = 0
    while batch := await relay.publish_pending():
        published += batch
    return published / (time.perf_counter() - started)


async def _bare_async(jetstream: Any, messages: Sequence[BareMessage]) -> float:
    started = time.perf_counter()
    acks = [
        await jetstream.publish_async(m.subject, m.body, headers={"Nats-Msg-Id": m.msg_id})
        for m in messages
    ]
    await asyncio.wait_for(asyncio.gather(*acks), timeout=120)
    return len(messages) / (time.perf_counter() - started)


async def _bare_awaited(jetstream: Any, messages: Sequence[BareMessage]) -> float:
    started = time.perf_counter()
    for m in messages:
        await jetstream.publish(m.subject, m.body, headers={"Nats-Msg-Id": m.msg_id})
    return len(messages) / (time.perf_counter() - started)


async def run(database_url: str, nats_url: str, *, events: int, rounds: int) -> RelayResults:
    settings = EventSettings()
    database = Database.from_settings(DatabaseSettings(url=database_url))
    client = await nats.connect(nats_url)
    jetstream = client.jetstream()
    rates: dict[str, list[float]] = {
        "postgres": [],
        "nats": [],
        "bare_async": [],
        "bare_awaited": [],
    }

    def relay_on(transport: Any) -> Relay:
        return Relay(database, transport, batch_size=settings.relay_batch_size)

    async def nats_relay() -> float:
        await _fresh_stream(jetstream)
        transport = NatsTransport(client, domains={"bench"}, partitions=settings.nats_partitions)
        return await _drain(relay_on(transport))

    scenarios: dict[str, Callable[[list[BareMessage]], Coroutine[Any, Any, float]]] = {
        "postgres": lambda _: _drain(relay_on(PostgresTransport())),
        "nats": lambda _: nats_relay(),
        "bare_async": lambda messages: _bare_async(jetstream, messages),
        "bare_awaited": lambda messages: _bare_awaited(jetstream, messages),
    }
    try:
        for _ in range(rounds):
            for name, scenario in scenarios.items():
                await _fill_outbox(database, events)
                messages = await _bare_messages(database, settings.nats_partitions)
                if name.startswith("bare"):
                    await _fresh_stream(jetstream)
                rates[name].append(await scenario(messages))
    finally:
        with contextlib.suppress(NotFoundError):
            await jetstream.delete_stream(STREAM)
        await client.close()
        await database.dispose()
    return RelayResults(events=events, rounds=rounds, rates=rates)


def report(results: RelayResults) -> str:
    def ratio_range(scenario: str, baseline: str) -> str:
        ratios = results.ratios(scenario, baseline)
        return f"{statistics.median(ratios):.2f} ({min(ratios):.2f} to {max(ratios):.2f})"

    lines = [
        f"Relay, {results.events:,} events per run, {results.rounds} interleaved rounds"
        " (medians; ratio ranges in brackets):",
        "",
        "| scenario | events/s | NATS relay ÷ scenario |",
        "|---|---:|---:|",
        f"| relay on NATS (pipelined) | {results.median('nats'):,.0f} | 1 |",
        f"| bare nats-py, async publish, all acks awaited | {results.median('bare_async'):,.0f} |"
        f" {ratio_range('nats', 'bare_async')} |",
        f"| bare nats-py, one awaited publish at a time | {results.median('bare_awaited'):,.0f} |"
        f" {ratio_range('nats', 'bare_awaited')} |",
        f"| relay on PostgreSQL | {results.median('postgres'):,.0f} |"
        f" {ratio_range('nats', 'postgres')} |",
    ]
    return "\n".join(lines)
