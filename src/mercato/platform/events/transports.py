"""Where the relay publishes: the PostgreSQL event log (default) or NATS JetStream.

`publish` receives outbox rows in `seq` order, already checked by the relay to be the next
events of their aggregates, and must keep that order within each aggregate. It raises
`PublishError` naming the messages the transport acknowledged before the failure (the relay
marks those published) and the ones whose publish failed.
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

from mercato.platform.events.models import OutboxMessage
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


class Transport(Protocol):
    name: str
    # True when `publish` also marks the messages published (in the relay's transaction),
    # so the relay has no second UPDATE of the same rows to make.
    marks_published: bool

    async def publish(self, messages: Sequence[PendingMessage], *, session: AsyncSession) -> None:
        """Publish inside the relay's transaction, in order per aggregate; return once all
        are acknowledged, or raise PublishError."""
        ...


class PostgresTransport:
    """The event log is the outbox itself: publishing assigns consecutive log positions.

    Positions are given under a transaction-level advisory lock, so they are committed in
    position order: a consumer that has read up to N can never later find a committed N-1.
    """

    name = "postgres"
    marks_published = True

    async def publish(self, messages: Sequence[PendingMessage], *, session: AsyncSession) -> None:
        if not messages:
            return
        await session.execute(select(func.pg_advisory_xact_lock(_LOG_LOCK_KEY)))
        last = await session.scalar(select(func.coalesce(func.max(OutboxMessage.log_position), 0)))
        first = int(last or 0) + 1
        await session.execute(
            text(
                # One UPDATE both positions and marks: each row version written once.
                "UPDATE platform_outbox AS o SET log_position = v.position,"
                " published_at = now(), last_error = NULL"
                " FROM unnest(CAST(:ids AS uuid[]), CAST(:positions AS bigint[]))"
                " AS v(id, position) WHERE o.id = v.id"
            ),
            {
                "ids": [str(message.id) for message in messages],
                "positions": list(range(first, first + len(messages))),
            },
        )
        await session.execute(select(func.pg_notify(EVENTS_CHANNEL, "")))


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
    marks_published = False

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
