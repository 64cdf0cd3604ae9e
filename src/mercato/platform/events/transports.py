"""Where the relay publishes: the PostgreSQL event log (default) or NATS JetStream.

`publish` receives outbox rows in `seq` order, already checked by the relay to be the next
events of their aggregates, and must keep that order. It raises `PublishError` saying how
many of them were acknowledged before the failure, so those are not published twice.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.platform.events.models import OutboxMessage

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
    envelope: dict[str, Any]


class PublishError(Exception):
    def __init__(self, acknowledged: int, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.acknowledged = acknowledged


class Transport(Protocol):
    name: str

    async def publish(self, messages: Sequence[PendingMessage], *, session: AsyncSession) -> None:
        """Publish in order, inside the relay's transaction; raise PublishError on failure."""
        ...


class PostgresTransport:
    """The event log is the outbox itself: publishing assigns consecutive log positions.

    Positions are given under a transaction-level advisory lock, so they are committed in
    position order: a consumer that has read up to N can never later find a committed N-1.
    """

    name = "postgres"

    async def publish(self, messages: Sequence[PendingMessage], *, session: AsyncSession) -> None:
        if not messages:
            return
        await session.execute(select(func.pg_advisory_xact_lock(_LOG_LOCK_KEY)))
        last = await session.scalar(select(func.coalesce(func.max(OutboxMessage.log_position), 0)))
        first = int(last or 0) + 1
        await session.execute(
            text(
                "UPDATE platform_outbox AS o SET log_position = v.position"
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

    def __init__(
        self,
        jetstream: Any,
        *,
        domains: set[str],
        partitions: int = 8,
        publish_timeout_s: float = 5.0,
    ) -> None:
        self._js = jetstream
        self._domains = domains
        self._partitions = partitions
        self._timeout = publish_timeout_s
        self._ready: set[str] = set()

    async def ensure_streams(self) -> None:
        for domain in sorted(self._domains - self._ready):
            await ensure_stream(self._js, domain)
            self._ready.add(domain)

    async def publish(self, messages: Sequence[PendingMessage], *, session: AsyncSession) -> None:
        acknowledged = 0
        try:
            await self.ensure_streams()
            for message in messages:
                domain = message.name.split(".", 1)[0]
                if domain not in self._ready:
                    await ensure_stream(self._js, domain)
                    self._ready.add(domain)
                partition = partition_of(
                    message.aggregate_type, message.aggregate_id, self._partitions
                )
                await self._js.publish(
                    nats_subject(message.name, partition),
                    json.dumps(message.envelope, separators=(",", ":")).encode(),
                    timeout=self._timeout,
                    headers={"Nats-Msg-Id": str(message.id)},
                )
                acknowledged += 1
        except Exception as error:
            raise PublishError(acknowledged, error) from error


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
