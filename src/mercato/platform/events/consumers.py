"""Consumers: handlers registered per group, applied exactly once per group.

A handler runs inside a unit of work that also records `(group, event id)` in the inbox;
both commit together, so a redelivered event (relay retry, broker redelivery, a crash
before the ack) finds its inbox row and has no second effect. A group sees the events of a
stream in order; a failing event is retried in place with backoff (head-of-line: later
events wait, so order per aggregate holds) and, after `max_attempts`, dead-lettered so the
rest keep flowing.

A group may apply a batch of events at once: the PostgreSQL consumer claims the inbox for
a whole batch in one statement and hands consecutive events of a contract registered with
`consumer_batch` to one call of its handler, with the events in log order (so order per
aggregate holds as long as the handler applies them in the order given). If anything in a
batch fails, the batch is undone and applied again one event at a time, so that the
failing event is retried or dead-lettered alone (as with plain handlers). A handler's
effects outside the database must therefore be idempotent: a batch undone by a later
event's failure runs them again, as a redelivery would.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from sqlalchemy import insert, text
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


@dataclass(frozen=True, slots=True)
class BatchContext:
    """What a batch handler may use: the unit of work (do not commit it) and the
    envelopes, aligned with the events it is given."""

    uow: UnitOfWork
    envelopes: Sequence[Envelope]


Handler = Callable[[Any, HandlerContext], Awaitable[None]]
BatchHandler = Callable[[Sequence[Any], BatchContext], Awaitable[None]]


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
    batch_handlers: dict[tuple[str, int], tuple[type[EventPayload], BatchHandler]] = field(
        default_factory=dict
    )

    def domains(self) -> set[str]:
        contracts = [contract for contract, _ in self.handlers.values()]
        contracts += [contract for contract, _ in self.batch_handlers.values()]
        return {contract.domain() for contract in contracts}

    def wants(self, envelope: Envelope) -> bool:
        key = (envelope.name, envelope.version)
        return key in self.handlers or key in self.batch_handlers

    def _add(self, contract: type[EventPayload], retry: RetryPolicy | None) -> tuple[str, int]:
        if retry is not None:
            self.retry = retry
        key = (contract.name, contract.version)
        if key in self.handlers or key in self.batch_handlers:
            raise ValueError(f"group {self.name!r} already handles {key}")
        return key


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
            consumer_group = self._group(group, source)
            consumer_group.handlers[consumer_group._add(contract, retry)] = (contract, handler)
            return handler

        return register

    def consumer_batch(
        self,
        contract: type[E],
        *,
        group: str,
        retry: RetryPolicy | None = None,
        source: str | None = None,
    ) -> Callable[[Callable[[Sequence[E], BatchContext], Awaitable[None]]], BatchHandler]:
        """Register the decorated coroutine as `group`'s handler of `contract` that applies
        many events in one call (one statement for all, say): it receives them in log
        order and must apply them in that order."""

        def register(
            handler: Callable[[Sequence[E], BatchContext], Awaitable[None]],
        ) -> BatchHandler:
            consumer_group = self._group(group, source)
            key = consumer_group._add(contract, retry)
            consumer_group.batch_handlers[key] = (contract, handler)
            return handler

        return register

    def _group(self, group: str, source: str | None) -> ConsumerGroup:
        consumer_group = self._groups.setdefault(group, ConsumerGroup(group, source=source))
        if consumer_group.source != source:
            raise ValueError(f"group {group!r} reads one service's log, not two")
        return consumer_group

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
    if not group.wants(envelope):
        return False
    with _event_context(group, envelope):
        claimed = await uow.session.scalar(
            pg_insert(InboxEntry)
            .values(consumer=group.name, event_id=envelope.id)
            .on_conflict_do_nothing()
            .returning(InboxEntry.event_id)
        )
        if claimed is None:
            logger.info("event_duplicate_skipped", event_id=str(envelope.id))
            return False
        await _run_handlers(uow, group, [envelope])
    return True


# One statement claims a whole batch: the ids already in the inbox come back missing.
_CLAIM_BATCH = text(
    "INSERT INTO platform_inbox (consumer, event_id)"
    " SELECT :consumer, unnest(CAST(:event_ids AS uuid[]))"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)


async def apply_batch_in(
    uow: UnitOfWork, group: ConsumerGroup, envelopes: Sequence[Envelope]
) -> int:
    """Claim the inbox for every event of `envelopes` the group handles, in one statement,
    and apply those not applied before, in order, inside `uow` (not committed here).
    Returns how many were applied; raises whatever a handler raised."""
    wanted = _first_of_each(envelope for envelope in envelopes if group.wants(envelope))
    if not wanted:
        return 0
    claimed = set(
        (
            await uow.session.execute(
                _CLAIM_BATCH,
                {"consumer": group.name, "event_ids": [envelope.id for envelope in wanted]},
            )
        ).scalars()
    )
    fresh = [envelope for envelope in wanted if envelope.id in claimed]
    if len(fresh) < len(wanted):
        logger.info("event_duplicates_skipped", consumer=group.name, count=len(wanted) - len(fresh))
    await _run_handlers(uow, group, fresh)
    return len(fresh)


async def _run_handlers(uow: UnitOfWork, group: ConsumerGroup, envelopes: list[Envelope]) -> None:
    """Run the handlers of already-claimed events in order: a run of consecutive events
    of a batch contract in one call, the others one by one."""
    for start, end in _runs(envelopes):
        key = (envelopes[start].name, envelopes[start].version)
        batched = group.batch_handlers.get(key)
        if batched is not None:
            contract, batch_handler = batched
            run = envelopes[start:end]
            events = [contract.model_validate(envelope.payload) for envelope in run]
            with (
                structlog.contextvars.bound_contextvars(
                    consumer=group.name, event_name=key[0], events=len(run)
                ),
                tracing.consumer_span(key[0], traceparent=run[0].traceparent, group=group.name),
            ):
                await batch_handler(events, BatchContext(uow=uow, envelopes=run))
            continue
        contract, handler = group.handlers[key]
        for envelope in envelopes[start:end]:
            with (
                _event_context(group, envelope),
                tracing.consumer_span(
                    envelope.name, traceparent=envelope.traceparent, group=group.name
                ),
            ):
                event = contract.model_validate(envelope.payload)
                await handler(event, HandlerContext(uow=uow, envelope=envelope))


def _first_of_each(envelopes: Iterable[Envelope]) -> list[Envelope]:
    """The envelopes in order, each event once: the same event twice in a batch (published
    again after the broker's dedup window, say) must not apply twice, and one inbox
    statement cannot tell the two copies apart."""
    seen: set[uuid.UUID] = set()
    unique = []
    for envelope in envelopes:
        if envelope.id not in seen:
            seen.add(envelope.id)
            unique.append(envelope)
    return unique


def _runs(envelopes: Sequence[Envelope]) -> Iterator[tuple[int, int]]:
    """[start, end) of each run of consecutive envelopes of the same (name, version)."""
    start = 0
    for index in range(1, len(envelopes) + 1):
        if index == len(envelopes) or (envelopes[index].name, envelopes[index].version) != (
            envelopes[start].name,
            envelopes[start].version,
        ):
            yield start, index
            start = index


def _event_context(group: ConsumerGroup, envelope: Envelope) -> Any:
    """Log context of one event; events a handler publishes inherit its correlation and
    have it as their cause."""
    return structlog.contextvars.bound_contextvars(
        correlation_id=envelope.correlation_id,
        causation_id=str(envelope.id),
        event_name=envelope.name,
        consumer=group.name,
    )


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
