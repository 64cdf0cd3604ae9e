"""Writing to the outbox: inside the caller's transaction, never after it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.platform.events.contracts import Envelope
from mercato.platform.events.models import OutboxMessage

# Relays LISTEN on this channel; PostgreSQL delivers the notification only at commit.
OUTBOX_CHANNEL = "mercato_outbox"


async def stage(session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
    """Insert the envelopes into the outbox and wake the relays when the transaction commits."""
    if not envelopes:
        return
    await session.execute(
        insert(OutboxMessage),
        [
            {
                "id": envelope.id,
                "name": envelope.name,
                "version": envelope.version,
                "aggregate_type": envelope.aggregate_type,
                "aggregate_id": envelope.aggregate_id,
                "envelope": envelope.model_dump(mode="json"),
            }
            for envelope in envelopes
        ],
    )
    await session.execute(select(func.pg_notify(OUTBOX_CHANNEL, "")))
