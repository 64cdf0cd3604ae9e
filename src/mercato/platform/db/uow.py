"""The unit of work: one use case, one transaction, one commit.

Repositories hang off the unit of work and never commit; the use case calls `commit()`
exactly once. Leaving the `async with` block without committing rolls everything back, so
an exception half-way through a use case leaves no partial write behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import structlog
from sqlalchemy.pool import PoolProxiedConnection

from mercato.platform.db.changes import Changes, changes_of
from mercato.platform.db.compiled import CompiledQuery, QueryCache
from mercato.platform.db.database import (
    Database,
    DriverRow,
    WriteSession,
    driver_rows,
    transaction_connection,
)
from mercato.platform.db.replica import after_replica_replay
from mercato.platform.events import outbox
from mercato.platform.events.contracts import Envelope, EventPayload
from mercato.platform.jobs import queue
from mercato.platform.jobs.queue import JobRequest

logger = structlog.get_logger(__name__)


class UnitOfWorkError(RuntimeError):
    """The unit of work was used out of order (a programming error, not a user error)."""


# Called after a successful commit with what the transaction changed (`changes.py`: the
# users whose rights changed, whether the catalog did), to drop this process's caches.
# Effects on other systems do not go here: those are events, written by the outbox.
CommitListener = Callable[[Changes], Awaitable[None]]
# Called by `commit()` before it writes the outbox, with what the transaction changed: the
# events it returns are written in the same transaction. The durable twin of a commit
# listener: the listener acts at once in this process (and may fail), the event reaches
# every consumer, retried until it is applied.
ChangeEvents = Callable[[Changes], Iterable[tuple[EventPayload, object]]]


class UnitOfWork:
    """A transaction boundary over one `AsyncSession` of the primary database."""

    def __init__(
        self,
        database: Database,
        *,
        commit_listeners: Sequence[CommitListener] = (),
        change_events: Sequence[ChangeEvents] = (),
    ) -> None:
        self._database = database
        self._commit_listeners = tuple(commit_listeners)
        self._change_events = tuple(change_events)
        self._session: WriteSession | None = None
        self._connection: PoolProxiedConnection | None = None
        self._committed = False
        self._events: list[Envelope] = []
        self._jobs: list[JobRequest] = []

    @property
    def session(self) -> WriteSession:
        if self._session is None:
            raise UnitOfWorkError("the unit of work is used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise UnitOfWorkError("a unit of work cannot be entered twice")
        self._session = self._database.session()
        self._committed = False
        self._events = []
        self._jobs = []
        await self._session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if not self._committed:
                await session.rollback()
        finally:
            self._connection = None
            await session.close()
            self._session = None

    @property
    def queries(self) -> QueryCache:
        """Compiled statements by shape (`compiled.py`), for `fetch`."""
        return self._database.queries

    async def fetch(self, query: CompiledQuery, values: Mapping[str, Any]) -> list[DriverRow]:
        """Send a compiled statement in this transaction, straight through the driver: for
        hot paths, where building, compiling and flushing through the ORM costs more CPU
        than PostgreSQL spends on the statement. ORM writes are flushed by then or come
        after (the session does not autoflush): keep them in statement order."""
        if self._connection is None:
            self._connection = await transaction_connection(self.session)
        return await driver_rows(self._connection, query, values)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A step that may fail alone: on an exception its writes, events and jobs are
        undone (and the exception propagates); the rest of the unit of work stands."""
        events, jobs = len(self._events), len(self._jobs)
        nested = await self.session.begin_nested()
        try:
            yield
        except BaseException:
            await nested.rollback()
            del self._events[events:]
            del self._jobs[jobs:]
            raise
        await nested.commit()

    def publish(self, event: EventPayload, *, aggregate_id: object) -> Envelope:
        """Record an event; it is written to the outbox by `commit()`, in this transaction."""
        envelope = Envelope.wrap(event, aggregate_id=aggregate_id)
        self._events.append(envelope)
        return envelope

    def defer(self, job: JobRequest) -> None:
        """Enqueue a background job; it is written by `commit()`, in this transaction."""
        self._jobs.append(job)

    async def commit(self) -> None:
        """Write the outbox and the deferred jobs, then commit; once per `async with`."""
        if self._committed:
            raise UnitOfWorkError("a unit of work commits exactly once")
        changes = changes_of(self.session)
        for derive in self._change_events:
            for event, aggregate_id in derive(changes):
                self.publish(event, aggregate_id=aggregate_id)
        await outbox.stage(self, self._events)
        await queue.stage(self.session, self._jobs)
        await self.session.commit()
        self._connection = None
        self._committed = True
        self._events = []
        self._jobs = []
        if self._commit_listeners:
            await after_replica_replay(self._database, lambda: self._notify(changes))

    async def _notify(self, changes: Changes) -> None:
        for listener in self._commit_listeners:
            try:
                await listener(changes)
            except Exception:  # committed already: a failing listener cannot undo it
                logger.exception("commit_listener_failed")

    async def rollback(self) -> None:
        await self.session.rollback()
