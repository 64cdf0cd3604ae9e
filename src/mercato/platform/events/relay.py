"""The outbox relay: publishes committed events, in order per aggregate, at least once.

Each round claims a batch of unpublished rows with `FOR UPDATE SKIP LOCKED` (several relays
never claim the same row), keeps for each aggregate only the unbroken run of its oldest
unpublished events (a row another relay holds, or an older one still unpublished, stops the
run), publishes them through the transport (NATS: many in flight, one per aggregate), and
marks published, in the same transaction, exactly the rows the transport acknowledged. A
crash before that commit leaves the rows unpublished: they are published again (duplicates
are absorbed by `Nats-Msg-Id` and the consumers' inbox). The relay never reads
"id > last id": sequence order is not commit order.

On the PostgreSQL transport the whole round is one statement (`PostgresTransport`): the
same claim, order check and marking, without reading the rows out of the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog
from sqlalchemy import ARRAY, UUID, Text, any_, cast, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.platform.aio import wait_first
from mercato.platform.db.database import Database
from mercato.platform.db.notify import close_quietly, listen
from mercato.platform.events.metrics import EventMetrics
from mercato.platform.events.models import OutboxMessage
from mercato.platform.events.outbox import OUTBOX_CHANNEL
from mercato.platform.events.transports import (
    PendingMessage,
    PostgresTransport,
    PublishError,
    Transport,
)

logger = structlog.get_logger(__name__)


class Relay:
    def __init__(
        self,
        database: Database,
        transport: Transport,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        metrics: EventMetrics | None = None,
        max_backoff_s: float = 30.0,
    ) -> None:
        self._database = database
        self._transport = transport
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._metrics = metrics
        self._max_backoff_s = max_backoff_s

    async def publish_pending(self) -> int:
        """One round: publish what is publishable now; return how many were published.

        On a transport failure the messages it acknowledged are still marked published (and
        the failure recorded on the rows whose publish failed) before `PublishError` is
        raised; the rest stay unpublished, in order, for the next round.
        """
        if isinstance(self._transport, PostgresTransport):
            async with self._database.session() as session, session.begin():
                published = await self._transport.publish_next(session, limit=self._batch_size)
            if self._metrics is not None:
                self._metrics.published.inc(published)
            return published
        failure: PublishError | None = None
        async with self._database.session() as session, session.begin():
            claimed = await self._claim(session)
            ready = await self._in_aggregate_order(session, claimed) if claimed else []
            if not ready:
                return 0
            try:
                await self._transport.publish(ready, session=session)
            except PublishError as error:
                failure = error
                ready = [message for message in ready if message.id in error.acknowledged]
                await self._record_failure(session, error)
            # In this transaction, after the acks: marking as each ack arrives would commit
            # nothing sooner, and measured slower (an UPDATE per few acks costs more Python
            # time than it overlaps with the publishes).
            await self._mark_published(session, ready)
        if self._metrics is not None:
            self._metrics.published.inc(len(ready))
            if failure is not None:
                self._metrics.publish_failures.inc()
        if failure is not None:
            raise failure
        return len(ready)

    async def _claim(self, session: AsyncSession) -> list[PendingMessage]:
        rows = await session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.seq,
                OutboxMessage.name,
                OutboxMessage.aggregate_type,
                OutboxMessage.aggregate_id,
                # As JSON text: the transport sends it as is (no decode and re-encode).
                cast(OutboxMessage.envelope, Text),
            )
            .where(OutboxMessage.published_at.is_(None))
            .order_by(OutboxMessage.seq)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)
        )
        return [
            PendingMessage(id, seq, name, aggregate_type, aggregate_id, body.encode())
            for id, seq, name, aggregate_type, aggregate_id, body in rows
        ]

    async def _in_aggregate_order(
        self, session: AsyncSession, claimed: Sequence[PendingMessage]
    ) -> list[PendingMessage]:
        """Keep, per aggregate, the claimed rows that come before any row we do not hold."""
        ours = {message.seq for message in claimed}
        newest = max(ours)
        aggregates = sorted({(m.aggregate_type, m.aggregate_id) for m in claimed})
        rows = await session.execute(
            text(
                "SELECT o.aggregate_type, o.aggregate_id, o.seq FROM platform_outbox AS o"
                " JOIN unnest(CAST(:types AS text[]), CAST(:ids AS text[])) AS a(t, i)"
                "   ON o.aggregate_type = a.t AND o.aggregate_id = a.i"
                " WHERE o.published_at IS NULL AND o.seq <= :newest ORDER BY o.seq"
            ),
            {
                "types": [a[0] for a in aggregates],
                "ids": [a[1] for a in aggregates],
                "newest": newest,
            },
        )
        allowed: set[int] = set()
        stopped: set[tuple[str, str]] = set()
        for aggregate_type, aggregate_id, seq in rows:
            key = (aggregate_type, aggregate_id)
            if key in stopped:
                continue
            if seq in ours:
                allowed.add(seq)
            else:
                stopped.add(key)  # an older event held by another relay: wait for it
        return [message for message in claimed if message.seq in allowed]

    async def _record_failure(self, session: AsyncSession, error: PublishError) -> None:
        if error.failed:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(list(error.failed)))
                .values(attempts=OutboxMessage.attempts + 1, last_error=str(error)[:2000])
            )

    async def _mark_published(
        self, session: AsyncSession, messages: Sequence[PendingMessage]
    ) -> None:
        if messages:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == any_(cast([m.id for m in messages], ARRAY(UUID))))
                .values(published_at=func.now(), last_error=None)
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set: woken by NOTIFY, polling as a fallback."""
        wake = asyncio.Event()
        listener = await listen(self._database, OUTBOX_CHANNEL, wake)
        backoff = 0.0
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    published = await self.publish_pending()
                    backoff = 0.0
                except Exception as error:  # noqa: BLE001 - keep relaying after any failure
                    backoff = min(max(backoff * 2, 0.5), self._max_backoff_s)
                    logger.warning("relay_publish_failed", error=str(error), retry_in_s=backoff)
                    await wait_first(stop, seconds=backoff)
                    continue
                if published < self._batch_size:
                    await wait_first(stop, wake, seconds=self._poll_interval_s)
        finally:
            await close_quietly(listener)
