"""Consumers: handlers registered per group, applied exactly once per group.

A handler runs inside a unit of work that also records `(group, event id)` in the inbox;
both commit together, so a redelivered event (relay retry, broker redelivery, a crash
before the ack) finds its inbox row and has no second effect. A group sees the events of a
stream in order; a failing event is retried in place with backoff (head-of-line: later
events wait, so order per aggregate holds) and, after `max_attempts`, dead-lettered so the
rest keep flowing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert

from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.contracts import Envelope, EventPayload
from mercato.platform.events.models import DeadLetter, InboxEntry
from mercato.platform.observability import tracing

E = TypeVar("E", bound=EventPayload)

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler may use: the unit of work (do not commit it) and the envelope."""

    uow: UnitOfWork
    envelope: Envelope


Handler = Callable[[Any, HandlerContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_s: tuple[float, ...] = (0.5, 2.0, 10.0, 30.0)

    def delay(self, attempt: int) -> float:
        """Delay before attempt number `attempt + 1` (attempt counts from 1)."""
        return self.backoff_s[min(attempt, len(self.backoff_s)) - 1]


@dataclass
class ConsumerGroup:
    name: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # The service whose event log the group reads on the PostgreSQL transport (its schema:
    # "payments"); None: this service's own. (On NATS every service's stream is reachable.)
    source: str | None = None
    handlers: dict[tuple[str, int], tuple[type[EventPayload], Handler]] = field(
        default_factory=dict
    )

    def domains(self) -> set[str]:
        return {contract.domain() for contract, _ in self.handlers.values()}

    def wants(self, envelope: Envelope) -> bool:
        return (envelope.name, envelope.version) in self.handlers


class ConsumerRegistry:
    """Groups and their handlers; each context declares one in its `events.py`."""

    def __init__(self) -> None:
        self._groups: dict[str, ConsumerGroup] = {}

    def consumer(
        self,
        contract: type[E],
        *,
        group: str,
        retry: RetryPolicy | None = None,
        source: str | None = None,
    ) -> Callable[[Callable[[E, HandlerContext], Awaitable[None]]], Handler]:
        """Register the decorated coroutine as `group`'s handler of `contract`; `source`
        names the service that publishes it, when another service does."""

        def register(handler: Callable[[E, HandlerContext], Awaitable[None]]) -> Handler:
            consumer_group = self._groups.setdefault(group, ConsumerGroup(group, source=source))
            if consumer_group.source != source:
                raise ValueError(f"group {group!r} reads one service's log, not two")
            if retry is not None:
                consumer_group.retry = retry
            key = (contract.name, contract.version)
            if key in consumer_group.handlers:
                raise ValueError(f"group {group!r} already handles {key}")
            consumer_group.handlers[key] = (contract, handler)
            return handler

        return register

    def include(self, other: ConsumerRegistry) -> None:
        for name, group in other._groups.items():
            if name in self._groups:
                raise ValueError(f"consumer group {name!r} is declared twice")
            self._groups[name] = group

    def groups(self) -> Iterable[ConsumerGroup]:
        return list(self._groups.values())


async def apply_once(group: ConsumerGroup, envelope: Envelope, database: Database) -> bool:
    """Apply `envelope` in a unit of work of its own; True if the handler ran.

    Raises whatever the handler raised (after rolling back its effects and the inbox row).
    """
    async with UnitOfWork(database) as uow:
        applied = await apply_in(uow, group, envelope)
        if applied:
            await uow.commit()
    return applied


async def apply_in(uow: UnitOfWork, group: ConsumerGroup, envelope: Envelope) -> bool:
    """Claim `(group, event id)` in the inbox and run the handler, inside `uow` (not
    committed here). False when the event was already applied or is not the group's."""
    entry = group.handlers.get((envelope.name, envelope.version))
    if entry is None:
        return False
    contract, handler = entry
    event = contract.model_validate(envelope.payload)
    with structlog.contextvars.bound_contextvars(
        correlation_id=envelope.correlation_id,
        causation_id=str(envelope.id),
        event_name=envelope.name,
        consumer=group.name,
    ):
        claimed = await uow.session.scalar(
            pg_insert(InboxEntry)
            .values(consumer=group.name, event_id=envelope.id)
            .on_conflict_do_nothing()
            .returning(InboxEntry.event_id)
        )
        if claimed is None:
            logger.info("event_duplicate_skipped", event_id=str(envelope.id))
            return False
        with tracing.consumer_span(
            envelope.name, traceparent=envelope.traceparent, group=group.name
        ):
            await handler(event, HandlerContext(uow=uow, envelope=envelope))
    return True


async def dead_letter(
    database: Database,
    *,
    consumer: str,
    event_id: uuid.UUID,
    envelope: dict[str, Any],
    attempts: int,
    error: str,
) -> None:
    """Park an event the consumer gave up on, in a transaction of its own."""
    async with UnitOfWork(database) as uow:
        await stage_dead_letter(
            uow,
            consumer=consumer,
            event_id=event_id,
            envelope=envelope,
            attempts=attempts,
            error=error,
        )
        await uow.commit()


async def stage_dead_letter(
    uow: UnitOfWork,
    *,
    consumer: str,
    event_id: uuid.UUID,
    envelope: dict[str, Any],
    attempts: int,
    error: str,
) -> None:
    """Park an event the consumer gave up on (kept raw: it may not even parse)."""
    await uow.session.execute(
        insert(DeadLetter).values(
            consumer=consumer,
            event_id=event_id,
            envelope=envelope,
            attempts=attempts,
            error=error[:4000],
        )
    )
    logger.error(
        "event_dead_lettered",
        consumer=consumer,
        event_id=str(event_id),
        event_name=envelope.get("name"),
        attempts=attempts,
    )


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
