"""Operator actions on the event machinery: replay a consumer, inspect dead letters."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import Any

from nats.js.errors import NotFoundError
from sqlalchemy import delete, func, select, update

from mercato.platform.db.database import Database
from mercato.platform.events.models import ConsumerPosition, DeadLetter, InboxEntry, OutboxMessage
from mercato.platform.events.nats_consumer import consumer_config, durable_name
from mercato.platform.events.transports import nats_stream


async def forget_processed_since(database: Database, *, consumer: str, since: dt.datetime) -> int:
    """Delete the consumer's inbox entries for events created since `since`, so that they
    are applied again when redelivered. Returns how many entries were removed."""
    async with database.session() as session, session.begin():
        result = await session.execute(
            delete(InboxEntry).where(
                InboxEntry.consumer == consumer,
                InboxEntry.event_id.in_(
                    select(OutboxMessage.id).where(OutboxMessage.created_at >= since)
                ),
            )
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def rewind_postgres_consumer(database: Database, *, consumer: str, since: dt.datetime) -> int:
    """Move the group's log position back to just before the first event since `since`.
    Returns the number of events that will be delivered again."""
    async with database.session() as session, session.begin():
        before = await session.scalar(
            select(func.coalesce(func.max(OutboxMessage.log_position), 0)).where(
                OutboxMessage.log_position.is_not(None), OutboxMessage.created_at < since
            )
        )
        updated = await session.execute(
            update(ConsumerPosition)
            .where(ConsumerPosition.consumer == consumer)
            .values(position=before, failed_attempts=0, retry_at=None, last_error=None)
        )
        if not updated.rowcount:  # type: ignore[attr-defined]
            raise LookupError(f"no consumer group named {consumer!r} has run yet")
        pending = await session.scalar(
            select(func.count()).where(OutboxMessage.log_position > before)
        )
    return int(pending or 0)


async def rewind_nats_consumer(
    jetstream: Any, *, consumer: str, domains: set[str], partitions: int, since: dt.datetime
) -> None:
    """Recreate the group's durable consumers (one per partition) to start at `since`."""
    for domain in sorted(domains):
        stream = nats_stream(domain)
        for partition in range(partitions):
            with contextlib.suppress(NotFoundError):
                await jetstream.delete_consumer(stream, durable_name(consumer, domain, partition))
            await jetstream.add_consumer(
                stream, consumer_config(consumer, domain, partition, start_at=since)
            )


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    id: int
    consumer: str
    event_id: str
    event_name: str
    attempts: int
    error: str
    created_at: dt.datetime


async def list_dead_letters(
    database: Database, *, consumer: str | None = None, limit: int = 50
) -> list[DeadLetterView]:
    query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if consumer is not None:
        query = query.where(DeadLetter.consumer == consumer)
    async with database.read_session() as session:
        rows = (await session.scalars(query)).all()
    return [
        DeadLetterView(
            id=row.id,
            consumer=row.consumer,
            event_id=str(row.event_id),
            event_name=str(row.envelope.get("name", "?")),
            attempts=row.attempts,
            error=row.error,
            created_at=row.created_at,
        )
        for row in rows
    ]
