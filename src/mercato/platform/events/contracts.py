"""Event contracts: versioned Pydantic payloads inside one envelope shape.

A contract is a payload class declaring its `name`, `version` and `aggregate_type`; the
`Envelope` carries the metadata every consumer relies on (id, time, aggregate, correlation
and causation). An `EventCatalog` maps (name, version) to the payload class, so consumers
parse exactly the version that was published; a breaking change gets a new version.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from mercato.platform.clock import utc_now
from mercato.platform.ids import uuid7
from mercato.platform.observability import tracing
from mercato.platform.observability.context import current_causation_id, current_correlation_id

_EVENT_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2,}")


class EventPayload(BaseModel):
    """Base of every event contract. Subclasses set the three class variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ClassVar[str]
    version: ClassVar[int]
    aggregate_type: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is not None and not _EVENT_NAME.fullmatch(name):
            raise TypeError(f"event name {name!r} must look like 'context.aggregate.happened'")

    @classmethod
    def domain(cls) -> str:
        """The context that publishes it: the first segment of the name."""
        return cls.name.split(".", 1)[0]


class Envelope(BaseModel):
    """What travels: metadata plus the payload as JSON-compatible data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID
    name: str
    version: int = Field(ge=1)
    occurred_at: dt.datetime
    aggregate_type: str
    aggregate_id: str
    correlation_id: str | None = None
    causation_id: str | None = None
    # The W3C trace context of the work that published it (observability/tracing.py).
    traceparent: str | None = None
    payload: dict[str, Any]

    @classmethod
    def wrap(cls, event: EventPayload, *, aggregate_id: object) -> Self:
        """Envelope an event now, inheriting the correlation of the work in progress."""
        return cls(
            id=uuid7(),
            name=event.name,
            version=event.version,
            occurred_at=utc_now(),
            aggregate_type=event.aggregate_type,
            aggregate_id=str(aggregate_id),
            correlation_id=current_correlation_id(),
            causation_id=current_causation_id(),
            traceparent=tracing.current_traceparent(),
            payload=event.model_dump(mode="json"),
        )


class UnknownEvent(LookupError):
    """No contract is registered for this (name, version)."""


class EventCatalog:
    """The contracts a process knows, by (name, version)."""

    def __init__(self, contracts: Iterable[type[EventPayload]] = ()) -> None:
        self._contracts: dict[tuple[str, int], type[EventPayload]] = {}
        for contract in contracts:
            self.register(contract)

    def register(self, contract: type[EventPayload]) -> type[EventPayload]:
        key = (contract.name, contract.version)
        existing = self._contracts.get(key)
        if existing is not None and existing is not contract:
            raise ValueError(f"{key} is already registered to {existing.__qualname__}")
        self._contracts[key] = contract
        return contract

    def __iter__(self) -> Iterator[type[EventPayload]]:
        return iter(sorted(self._contracts.values(), key=lambda c: (c.name, c.version)))

    def __contains__(self, key: object) -> bool:
        return key in self._contracts

    def contract(self, name: str, version: int) -> type[EventPayload]:
        try:
            return self._contracts[(name, version)]
        except KeyError:
            raise UnknownEvent(f"no contract for {name} v{version}") from None

    def parse(self, envelope: Envelope) -> EventPayload:
        return self.contract(envelope.name, envelope.version).model_validate(envelope.payload)

    def domains(self) -> set[str]:
        return {contract.domain() for contract in self._contracts.values()}
