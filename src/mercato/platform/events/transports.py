"""Where the relay publishes: the PostgreSQL event log (default) or NATS JetStream.

The PostgreSQL log is the outbox itself: publishing is one statement that positions the
next rows where they are. A message transport (NATS) instead receives outbox rows in `seq`
order, already checked by the relay to be the next events of their aggregates, and must
keep that order within each aggregate. It raises `PublishError` naming the messages the
transport acknowledged before the failure (the relay marks those published) and the ones
whose publish failed.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from nats.aio.client import Client
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.platform.events.nats_publisher import PipelinedPublisher
from mercato.platform.observability import tracing

EVENTS_CHANNEL = "mercato_events"
# Any constant works; it only has to be the same in every relay.
_LOG_LOCK_KEY = 0x6D65726361746F  # "mercato"
NATS_SUBJECT_PREFIX = "mercato"
NATS_DEAD_LETTER_PREFIX = "mercato-dead-letter"


@dataclass(frozen=True, slots=True)
class PendingMessage:
    id: Any
    seq: int
    name: str
    aggregate_type: str
    aggregate_id: str
    body: bytes  # the envelope, as JSON

    @property
    def aggregate(self) -> tuple[str, str]:
        return (self.aggregate_type, self.aggregate_id)


class PublishError(Exception):
    """Some messages were not published: `acknowledged` (ids) were, `failed` (ids) were
    tried and failed; the others were not tried (they wait behind a failed one)."""

    def __init__(
        self,
        cause: BaseException,
        *,
        acknowledged: Collection[Any] = (),
        failed: Collection[Any] = (),
    ) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.acknowledged = frozenset(acknowledged)
        self.failed = frozenset(failed)


class MessageTransport(Protocol):
    """A broker the relay hands the outbox rows to (NATS): the relay claims them, checks
    their order, and marks published those the broker acknowledged."""

    name: str

    async def publish(self, messages: Sequence[PendingMessage], *, session: AsyncSession) -> None:
        """Publish inside the relay's transaction, in order per aggregate; return once all
        are acknowledged, or raise PublishError."""
        ...


# The relay claims the oldest unpublished rows it can lock (`SKIP LOCKED`: several relays
# never claim the same row). The unpublished rows up to the newest claimed one that it
# does not hold (`held_elsewhere`: claimed by another relay) stop their aggregate there
# (`blocked`); the rest are numbered after the last position in `seq` order, positioned
# and marked in one UPDATE (each row version written once), and the consumers woken if
# anything was published. One statement, nothing read back: the rows never leave the
# database. (A set difference, not an anti-join: the planner estimates the CTE at a couple
# of rows and a nested loop over 500 claimed rows is quadratic.)
_PUBLISH_NEXT = text(
    """
    WITH claimed AS MATERIALIZED (
        SELECT id, seq, aggregate_type, aggregate_id FROM platform_outbox
        WHERE published_at IS NULL ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED
    ), held_elsewhere AS (
        SELECT aggregate_type, aggregate_id, seq FROM platform_outbox
        WHERE published_at IS NULL AND seq <= (SELECT max(seq) FROM claimed)
        EXCEPT ALL
        SELECT aggregate_type, aggregate_id, seq FROM claimed
    ), blocked AS (
        SELECT aggregate_type, aggregate_id, min(seq) AS seq FROM held_elsewhere
        GROUP BY aggregate_type, aggregate_id
    ), ready AS (
        SELECT c.id, c.seq FROM claimed AS c
        LEFT JOIN blocked AS b USING (aggregate_type, aggregate_id)
        WHERE b.seq IS NULL OR c.seq < b.seq
    ), positioned AS (
        SELECT id, row_number() OVER (ORDER BY seq)
            + (SELECT coalesce(max(log_position), 0) FROM platform_outbox) AS position
        FROM ready
    ), published AS (
        UPDATE platform_outbox AS o
        SET log_position = p.position, published_at = now(), last_error = NULL
        FROM positioned AS p WHERE o.id = p.id
        RETURNING 1
    )
    SELECT count(*), pg_notify(:channel, '') FROM published HAVING count(*) > 0
    """
)


class PostgresTransport:
    """The event log is the outbox itself: publishing assigns consecutive log positions.

    Positions are given under a transaction-level advisory lock taken before anything is
    read (so the last position read is the last committed one), hence committed in position
    order: a consumer that has read up to N can never later find a committed N-1.
    """

    name = "postgres"

    async def publish_next(self, session: AsyncSession, *, limit: int) -> int:
        """Publish up to `limit` of the oldest publishable events, in the caller's
        transaction; return how many."""
        await session.execute(select(func.pg_advisory_xact_lock(_LOG_LOCK_KEY)))
        published = await session.scalar(_PUBLISH_NEXT, {"limit": limit, "channel": EVENTS_CHANNEL})
        return int(published or 0)


# What a relay publishes through.
Transport = MessageTransport | PostgresTransport


def partition_of(aggregate_type: str, aggregate_id: str, partitions: int) -> int:
    """A stable partition per aggregate: all its events share one ordered lane."""
    return zlib.crc32(f"{aggregate_type}:{aggregate_id}".encode()) % partitions


def nats_subject(event_name: str, partition: int | str) -> str:
    """`mercato.<domain>.<partition>.<rest of the name>`, e.g. mercato.catalog.3.product.updated."""
    domain, rest = event_name.split(".", 1)
    return f"{NATS_SUBJECT_PREFIX}.{domain}.{partition}.{rest}"


def partition_filter(domain: str, partition: int) -> str:
    return f"{NATS_SUBJECT_PREFIX}.{domain}.{partition}.>"


def nats_stream(domain: str) -> str:
    return f"MERCATO_{domain.upper()}"


class NatsTransport:
    """JetStream, one stream per domain; `Nats-Msg-Id` = event id for broker-side dedup.

    Subjects carry a partition derived from the aggregate, so that consumers can process
    partitions in parallel while each partition (hence each aggregate) stays in order.
    """

    name = "nats"

    def __init__(
        self,
        client: Client,
        *,
        domains: set[str],
        partitions: int = 8,
        publish_timeout_s: float = 5.0,
    ) -> None:
        self._js = client.jetstream()
        self._publisher = PipelinedPublisher(client)
        self._domains = domains
        self._partitions = partitions
        self._timeout = publish_timeout_s
        self._ready: set[str] = set()

    async def ensure_streams(self) -> None:
        for domain in sorted(self._domains - self._ready):
            await ensure_stream(self._js, domain)
            self._ready.add(domain)

    async def publish(self, messages: Sequence[PendingMessage], *, session: AsyncSession) -> None:
        """Publish with many messages in flight, but at most one per aggregate.

        Each aggregate's messages go out one after another (the next only once the
        previous one is acknowledged), and the aggregates proceed side by side. Should one
        publish fail, the aggregate's later messages are not sent at all: a later event
        can never reach the stream ahead of an earlier one that is retried next round.
        """
        try:
            await self.ensure_streams()
        except Exception as error:
            raise PublishError(error, failed=[messages[0].id] if messages else []) from error
        lanes: dict[tuple[str, str], list[PendingMessage]] = {}
        for message in messages:
            lanes.setdefault(message.aggregate, []).append(message)
        acknowledged: list[Any] = []
        failures: dict[Any, BaseException] = {}

        async def publish_in_order(lane: list[PendingMessage]) -> None:
            for message in lane:
                try:
                    await self._publish_one(message)
                except Exception as error:  # noqa: BLE001 - reported through PublishError
                    failures[message.id] = error
                    return
                acknowledged.append(message.id)

        await asyncio.gather(*(publish_in_order(lane) for lane in lanes.values()))
        if failures:
            first = next(iter(failures.values()))
            raise PublishError(first, acknowledged=acknowledged, failed=failures) from first

    async def _publish_one(self, message: PendingMessage) -> None:
        """Send, and wait for the stream's PubAck; a timeout counts as a failure (if the
        message was stored after all, its re-publish is dropped by `Nats-Msg-Id`)."""
        domain = message.name.split(".", 1)[0]
        if domain not in self._ready:
            await ensure_stream(self._js, domain)
            self._ready.add(domain)
        partition = partition_of(message.aggregate_type, message.aggregate_id, self._partitions)
        await self._publisher.publish(
            nats_subject(message.name, partition),
            message.body,
            headers=_headers(message),
            timeout_s=self._timeout,
        )


def _headers(message: PendingMessage) -> dict[str, str]:
    """`Nats-Msg-Id` (broker-side dedup) and, when tracing, the publisher's `traceparent`."""
    headers = {"Nats-Msg-Id": str(message.id)}
    if tracing.enabled():
        traceparent = orjson.loads(message.body).get("traceparent")
        if traceparent:
            headers["traceparent"] = traceparent
    return headers


async def ensure_stream(jetstream: Any, domain: str) -> None:
    """Create the domain's stream if missing."""
    await ensure_named_stream(
        jetstream,
        nats_stream(domain),
        [f"{NATS_SUBJECT_PREFIX}.{domain}.>"],
        duplicate_window=120.0,
    )


async def ensure_named_stream(
    jetstream: Any, name: str, subjects: list[str], *, duplicate_window: float = 120.0
) -> None:
    """Idempotent, and safe when several relays and consumers start at once: a creation
    refused because another process just created the stream counts as success."""
    try:
        await jetstream.stream_info(name)
        return
    except NotFoundError:
        pass
    try:
        await jetstream.add_stream(
            StreamConfig(name=name, subjects=subjects, duplicate_window=duplicate_window)
        )
    except BadRequestError:
        await jetstream.stream_info(name)  # raises NotFoundError if it really is missing
