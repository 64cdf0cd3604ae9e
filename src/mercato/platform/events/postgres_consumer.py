"""Consumers of the PostgreSQL event log: per-group positions, one active instance per group.

An instance processes a batch while holding its group's position row (`FOR UPDATE SKIP
LOCKED`): other instances of the group skip it and take over if it dies (the lock goes with
its connection). Positions only move forward over committed, gap-free log positions (see
`PostgresTransport`). The effects of a batch commit in the same transaction as the new
position, and the inbox deduplicates anything delivered again (a replay, a crash between
an effect applied elsewhere and the position update).

A group may read another service's log (`log`: the payments service's outbox, in its own
schema): the events are read from there, committed and gap-free as ever, while the effects,
the inbox and the position commit here, together.

A batch is first applied whole (one savepoint, one inbox statement, batch handlers called
once per run of events): a few round trips per batch instead of four per event. If
anything in it fails, it is undone and applied again one event at a time, each in its own
savepoint, so the failing event is retried (head of line) or dead-lettered alone while the
events before it commit; while the head of the log is failing, batches go one by one
straight away.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import NamedTuple

import orjson
import structlog
from sqlalchemy import Text, cast, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from mercato.platform.aio import wait_first
from mercato.platform.clock import utc_now
from mercato.platform.db.database import Database
from mercato.platform.db.notify import close_quietly, listen
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.consumers import (
    ConsumerGroup,
    apply_batch_in,
    apply_in,
    describe,
    stage_dead_letter,
)
from mercato.platform.events.contracts import Envelope
from mercato.platform.events.models import ConsumerPosition, OutboxMessage
from mercato.platform.events.transports import EVENTS_CHANNEL

logger = structlog.get_logger(__name__)


class LogEntry(NamedTuple):
    event_id: uuid.UUID
    position: int
    body: str  # the envelope, as JSON text


class PostgresConsumer:
    def __init__(
        self,
        database: Database,
        group: ConsumerGroup,
        *,
        log: Database | None = None,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        whole_batches: bool = True,
    ) -> None:
        """`whole_batches=False` applies every event in a savepoint of its own, as before
        batching (the benchmark's same-run baseline)."""
        self._database = database
        self._whole_batches = whole_batches
        self._log = log
        self._group = group
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s

    @property
    def group(self) -> ConsumerGroup:
        return self._group

    async def process_batch(self) -> int:
        """Apply the next events after the group's position; return how many were read.

        One transaction per batch: the effects (the whole batch in a savepoint, or each
        event in one, so a failing event is undone alone), the dead letters and the new
        position commit together.
        """
        name = self._group.name
        async with UnitOfWork(self._database) as uow:
            session = uow.session
            await session.execute(
                pg_insert(ConsumerPosition).values(consumer=name).on_conflict_do_nothing()
            )
            state = await session.scalar(
                select(ConsumerPosition)
                .where(ConsumerPosition.consumer == name)
                .with_for_update(skip_locked=True)
            )
            if state is None:
                return 0  # another instance of this group is at work
            if state.retry_at is not None and state.retry_at > utc_now():
                return 0
            after = (
                # As JSON text: pydantic parses it in one step (no dict built first).
                select(
                    OutboxMessage.id, OutboxMessage.log_position, cast(OutboxMessage.envelope, Text)
                )
                .where(OutboxMessage.log_position > state.position)
                .order_by(OutboxMessage.log_position)
                .limit(self._batch_size)
            )
            if self._log is None:
                result = await session.execute(after)
            else:
                async with self._log.read_session() as log:
                    result = await log.execute(after)
            rows = [
                LogEntry(event_id, int(log_position or 0), body)
                for event_id, log_position, body in result
            ]
            position, attempts = state.position, state.failed_attempts
            retry_at: dt.datetime | None = None
            last_error: str | None = state.last_error
            if (
                rows
                and attempts == 0
                and self._whole_batches
                and await self._apply_whole(uow, rows)
            ):
                position, last_error, rows_left = rows[-1].position, None, []
            else:
                rows_left = list(rows)
            for event_id, log_position, body in rows_left:
                try:
                    async with uow.savepoint():
                        envelope = Envelope.model_validate_json(body)
                        if self._group.wants(envelope):
                            await apply_in(uow, self._group, envelope)
                except Exception as error:  # noqa: BLE001 - a handler's failure is data here
                    attempts += 1
                    last_error = describe(error)
                    logger.warning(
                        "event_handler_failed",
                        consumer=name,
                        log_position=log_position,
                        attempt=attempts,
                        error=last_error,
                    )
                    if attempts < self._group.retry.max_attempts:
                        delay = self._group.retry.delay(attempts)
                        retry_at = utc_now() + dt.timedelta(seconds=delay)
                        break
                    await stage_dead_letter(
                        uow,
                        consumer=name,
                        event_id=event_id,
                        envelope=orjson.loads(body),
                        attempts=attempts,
                        error=last_error,
                    )
                position, attempts, last_error = log_position, 0, None
            await session.execute(
                update(ConsumerPosition)
                .where(ConsumerPosition.consumer == name)
                .values(
                    position=position,
                    failed_attempts=attempts,
                    retry_at=retry_at,
                    last_error=last_error,
                    updated_at=func.now(),
                )
            )
            await uow.commit()
        return len(rows)

    async def _apply_whole(self, uow: UnitOfWork, rows: Sequence[LogEntry]) -> bool:
        """Apply the batch in one savepoint; False (and nothing applied) if any of it failed."""
        try:
            async with uow.savepoint():
                envelopes = [Envelope.model_validate_json(row.body) for row in rows]
                await apply_batch_in(uow, self._group, envelopes)
        except Exception as error:  # noqa: BLE001 - found again, event by event
            logger.info(
                "consumer_batch_split",
                consumer=self._group.name,
                events=len(rows),
                error=describe(error),
            )
            return False
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set: woken by NOTIFY from the relay, polling as fallback."""
        wake = asyncio.Event()
        listener = await listen(self._log or self._database, EVENTS_CHANNEL, wake)
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    read = await self.process_batch()
                except Exception as error:  # noqa: BLE001 - e.g. the database is down
                    logger.warning(
                        "consumer_batch_failed", consumer=self._group.name, error=str(error)
                    )
                    await wait_first(stop, seconds=self._poll_interval_s * 2)
                    continue
                if read < self._batch_size:
                    await wait_first(stop, wake, seconds=self._poll_interval_s)
        finally:
            await close_quietly(listener)
