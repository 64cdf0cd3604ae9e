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

A batch is first applied whole, in as few round trips as the work allows: the position
and the events after it in one statement, one inbox statement for the batch, batch
handlers called once per run of events, the new position, the commit. If anything in it
fails, the transaction is rolled back and the batch applied again one event at a time, in
a transaction of its own, each event in its own savepoint, so the failing event is retried
(head of line) or dead-lettered alone while the events before it commit; while the head
of the log is failing, batches go one by one straight away.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import NamedTuple

import orjson
import structlog
from sqlalchemy import func, text, update
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
from mercato.platform.events.models import ConsumerPosition
from mercato.platform.events.transports import EVENTS_CHANNEL

logger = structlog.get_logger(__name__)


class LogEntry(NamedTuple):
    event_id: uuid.UUID
    position: int
    body: str  # the envelope, as JSON text: pydantic parses it in one step


class Position(NamedTuple):
    """A group's row in `platform_consumer_position`, as locked for a batch."""

    position: int
    failed_attempts: int
    retry_at: dt.datetime | None
    last_error: str | None


_LOCK = text(
    "SELECT position, failed_attempts, retry_at, last_error FROM platform_consumer_position"
    " WHERE consumer = :consumer FOR UPDATE SKIP LOCKED"
)
_READ = text(
    "SELECT id, log_position, CAST(envelope AS text) FROM platform_outbox"
    " WHERE log_position > :after ORDER BY log_position LIMIT :limit"
)
# Both in one round trip (no row at all: another instance holds the position, or it does
# not exist yet; one row of nulls after the position: nothing to read).
_LOCK_AND_READ = text(
    "SELECT p.position, p.failed_attempts, p.retry_at, p.last_error,"
    " e.id, e.log_position, e.envelope FROM"
    " (SELECT position, failed_attempts, retry_at, last_error FROM platform_consumer_position"
    "  WHERE consumer = :consumer FOR UPDATE SKIP LOCKED) AS p"
    " LEFT JOIN LATERAL"
    " (SELECT id, log_position, CAST(envelope AS text) AS envelope FROM platform_outbox"
    "  WHERE log_position > p.position ORDER BY log_position LIMIT :limit) AS e ON true"
    " ORDER BY e.log_position"
)


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
        self._position_exists = False

    @property
    def group(self) -> ConsumerGroup:
        return self._group

    async def process_batch(self) -> int:
        """Apply the next events after the group's position; return how many were read.

        One transaction per batch: the effects, the dead letters and the new position
        commit together. The batch is first applied whole; if that fails it is rolled back
        and applied again event by event (each in a savepoint, so a failing event is undone
        alone), in a transaction of its own.
        """
        read, applied = await self._process(whole=self._whole_batches)
        if read and not applied:
            read, _ = await self._process(whole=False)
        return read

    async def _process(self, *, whole: bool) -> tuple[int, bool]:
        """(events read, whether they were all applied or handled) for one batch."""
        async with UnitOfWork(self._database) as uow:
            batch = await self._lock_and_read(uow)
            if batch is None:
                return 0, True  # another instance of this group is at work
            state, rows = batch
            if state.retry_at is not None and state.retry_at > utc_now():
                return 0, True
            if rows and whole and state.failed_attempts == 0:
                if not await self._apply_whole(uow, rows):
                    return len(rows), False  # leaving without commit rolls it all back
                await self._move(uow, position=rows[-1].position)
            else:
                await self._apply_one_by_one(uow, state, rows)
            await uow.commit()
        return len(rows), True

    async def _lock_and_read(self, uow: UnitOfWork) -> tuple[Position, list[LogEntry]] | None:
        """Lock the group's position (None if another instance holds it) and read the
        events after it: one statement when the log is this service's own."""
        session = uow.session
        params = {"consumer": self._group.name, "limit": self._batch_size}
        if self._log is None:
            result = (await session.execute(_LOCK_AND_READ, params)).all()
            if not result and not self._position_exists:
                await self._create_position()
                result = (await session.execute(_LOCK_AND_READ, params)).all()
            if not result:
                return None
            state = Position(*result[0][:4])
            rows = [LogEntry(*row[4:]) for row in result if row[4] is not None]
            return state, rows
        found = (await session.execute(_LOCK, params)).first()
        if found is None and not self._position_exists:
            await self._create_position()
            found = (await session.execute(_LOCK, params)).first()
        if found is None:
            return None
        state = Position(*found)
        async with self._log.read_session() as log:
            read = await log.execute(_READ, {"after": state.position, **params})
            return state, [LogEntry(*row) for row in read]

    async def _create_position(self) -> None:
        """Committed at once, in a transaction of its own: a batch rolled back must not
        take the row with it."""
        async with self._database.session() as session, session.begin():
            await session.execute(
                pg_insert(ConsumerPosition)
                .values(consumer=self._group.name)
                .on_conflict_do_nothing()
            )
        self._position_exists = True

    async def _apply_one_by_one(
        self, uow: UnitOfWork, state: Position, rows: Sequence[LogEntry]
    ) -> None:
        """Each event in a savepoint of its own: a failing one is retried in place (the
        position stops before it) or, out of attempts, dead-lettered."""
        name = self._group.name
        position, attempts, last_error = state.position, state.failed_attempts, state.last_error
        retry_at: dt.datetime | None = None
        for event_id, log_position, body in rows:
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
        await self._move(
            uow, position=position, attempts=attempts, retry_at=retry_at, last_error=last_error
        )

    async def _move(
        self,
        uow: UnitOfWork,
        *,
        position: int,
        attempts: int = 0,
        retry_at: dt.datetime | None = None,
        last_error: str | None = None,
    ) -> None:
        await uow.session.execute(
            update(ConsumerPosition)
            .where(ConsumerPosition.consumer == self._group.name)
            .values(
                position=position,
                failed_attempts=attempts,
                retry_at=retry_at,
                last_error=last_error,
                updated_at=func.now(),
            )
        )

    async def _apply_whole(self, uow: UnitOfWork, rows: Sequence[LogEntry]) -> bool:
        """Apply the batch at once; False if any of it failed (the caller rolls back)."""
        try:
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
