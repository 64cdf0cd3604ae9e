"""What a provider call through the gateway ended as: one closed union per kind of call.

A use case cannot read a provider object out of a result without first narrowing it to
`Answered` (mypy), so "the provider answered", "the provider refused", "certainly nothing
happened" and "maybe something happened" cannot be confused:

    result = await gateway.confirm_payment(...)
    match result:
        case Answered(value=payment): ...        # the provider's word: apply it
        case Rejected(code=code): ...            # 4xx: no effect, tell the customer
        case NoEffect(): ...                     # nothing reached the provider: try later
        case Unknown(): ...                      # record the attempt UNKNOWN, reconcile
        case _: assert_never(result)

Mutating calls return `WriteResult`; reads return `ReadResult` (a read that could not be
answered is just `Unavailable`: it changed nothing either way).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Generic, Literal, TypeAlias, TypeVar

T = TypeVar("T")


class Outcome(StrEnum):
    """The outcome of one gateway call (also the `outcome` label of its metrics)."""

    ANSWERED = "answered"
    REJECTED = "rejected"
    NO_EFFECT = "no_effect"
    UNKNOWN = "unknown"
    UNAVAILABLE = "unavailable"


class NoEffectReason(StrEnum):
    """Why a mutating call certainly had no effect at the provider."""

    CIRCUIT_OPEN = "circuit_open"  # the breaker refused to send it
    NOT_REACHED = "not_reached"  # the connection failed before any byte was sent
    THROTTLED = "throttled"  # the provider answered 429 (it did nothing)


@dataclass(frozen=True, slots=True)
class Answered(Generic[T]):
    """The provider answered with its object as it is now (a declined card is an answer:
    read the payment's status and failure code)."""

    value: T
    tries: int
    outcome: ClassVar[Literal[Outcome.ANSWERED]] = Outcome.ANSWERED


@dataclass(frozen=True, slots=True)
class Rejected:
    """The provider refused the request (a 4xx it meant) and did nothing. Retrying the
    same request will not help."""

    code: str
    message: str
    status: int | None
    tries: int
    outcome: ClassVar[Literal[Outcome.REJECTED]] = Outcome.REJECTED


@dataclass(frozen=True, slots=True)
class NoEffect:
    """Certainly nothing happened at the provider (breaker open, connection refused or
    throttled on every try). The same call with the same idempotency key may be made
    again later; there is nothing to reconcile."""

    reason: NoEffectReason
    tries: int
    outcome: ClassVar[Literal[Outcome.NO_EFFECT]] = Outcome.NO_EFFECT


@dataclass(frozen=True, slots=True)
class Unknown:
    """At least one try may have reached the provider and its outcome is not known (read
    timeout, reset connection, 5xx, deadline). Never "failed": the use case records the
    attempt as UNKNOWN and reconciles it with the provider (retrieve, or the same call
    with the same idempotency key) before any new attempt."""

    tries: int
    cause: str  # what the last try ended with, for the log and the attempt row
    outcome: ClassVar[Literal[Outcome.UNKNOWN]] = Outcome.UNKNOWN


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A read that got no answer (provider unreachable, throttled, slow or open breaker).
    Reads change nothing, so there is nothing to reconcile: read again later."""

    cause: str
    tries: int
    outcome: ClassVar[Literal[Outcome.UNAVAILABLE]] = Outcome.UNAVAILABLE


WriteResult: TypeAlias = Answered[T] | Rejected | NoEffect | Unknown
ReadResult: TypeAlias = Answered[T] | Rejected | Unavailable
