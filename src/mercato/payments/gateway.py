"""The gateway facade: every payments use case calls a provider through it, never directly.

Adapters (`providers/*`) only translate; the facade owns the policy, alike for every
provider (docs/decisions/0004-payments-provider-calls.md):

- one deadline for the whole call, retries and waits included;
- retries with capped exponential backoff and jitter (stamina) for `ProviderNotReached`,
  `ProviderBusy` (its Retry-After honoured up to a cap) and `ProviderOutcomeUnknown`, never
  for `ProviderRejected`. Retrying an unknown outcome is safe only because every mutating
  call carries the same provider idempotency key on every try;
- one circuit breaker per provider (`ProviderBreaker`): open → fail fast, nothing sent;
- an explicit result (`payments.outcomes`): the provider's answer, its refusal, "certainly
  no effect" or "outcome unknown after N tries", never an exception to swallow.

If the caller itself is cancelled mid-call (shutdown), `CancelledError` propagates: the
attempt row, stored before the call, stays "started" and the reconciler treats it as an
unknown outcome.

Provider idempotency keys come from our own ids (`derive_idempotency_key`), never from a
random value per try. The caller derives the key and stores it with the attempt (or
refund) row *before* the first call, so that a retry, a crash-restart or the reconciler
sends the very same key and the provider answers with the first outcome instead of acting
twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import stamina
import structlog

from mercato.payments.breaker import CircuitOpen, ProviderBreaker
from mercato.payments.config import ProviderCallPolicy
from mercato.payments.idempotency_keys import (
    IdempotencyKey,
    ProviderOperation,
    derive_idempotency_key,
)
from mercato.payments.outcomes import (
    Answered,
    NoEffect,
    NoEffectReason,
    Outcome,
    ReadResult,
    Rejected,
    Unavailable,
    Unknown,
    WriteResult,
)
from mercato.payments.provider_metrics import GatewayMetrics
from mercato.payments.providers.base import (
    CreatePayment,
    PaymentProvider,
    ProviderBusy,
    ProviderError,
    ProviderEvent,
    ProviderNotReached,
    ProviderOutcomeUnknown,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
)

T = TypeVar("T")
logger = structlog.get_logger(__name__)

__all__ = [
    "IdempotencyKey",
    "PaymentGateway",
    "ProviderOperation",
    "derive_idempotency_key",
]


class _DeadlineReached(ProviderOutcomeUnknown):
    """The call's deadline cut a try in flight: it may have reached the provider."""


class _AdapterCrash(Exception):
    """An adapter raised something outside the protocol (a bug, or an answer it could not
    parse): for a mutating call the request may well have taken effect."""


@dataclass
class _Call:
    """What one gateway call has learnt so far, across its tries."""

    operation: ProviderOperation
    deadline: float  # time.monotonic() value
    tries: int = 0
    # Some try may have reached the provider and acted (unknown outcome): from then on the
    # call can end "answered" or "unknown", never "rejected" or "no effect".
    maybe_applied: bool = False


class PaymentGateway:
    """One provider behind deadlines, retries, a circuit breaker, metrics and logs."""

    def __init__(
        self,
        provider: PaymentProvider,
        *,
        policy: ProviderCallPolicy,
        metrics: GatewayMetrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.provider = provider
        self._policy = policy
        self._metrics = metrics
        # Jitter only spreads retries out; it is not a secret.
        self._rng = rng or random.Random()  # noqa: S311
        self.breaker = ProviderBreaker(
            provider.name,
            failure_threshold=policy.breaker_failure_threshold,
            recovery_s=policy.breaker_recovery_s,
            on_state_change=metrics.breaker_changed if metrics is not None else None,
        )
        if metrics is not None:
            metrics.breaker_state.labels(provider.name).set(0)  # closed until it opens

    @property
    def deadline(self) -> dt.timedelta:
        """The longest a call through the gateway takes, retries and waits included."""
        return dt.timedelta(seconds=self._policy.deadline_s)

    # -- mutating calls -------------------------------------------------------------------

    async def create_payment(
        self, request: CreatePayment, *, idempotency_key: IdempotencyKey
    ) -> WriteResult[ProviderPayment]:
        send = functools.partial(
            self.provider.create_payment, request, idempotency_key=idempotency_key
        )
        return await self._write(ProviderOperation.CREATE, key=idempotency_key, send=send)

    async def confirm_payment(
        self,
        provider_id: str,
        *,
        payment_method: str,
        return_url: str | None,
        idempotency_key: IdempotencyKey,
    ) -> WriteResult[ProviderPayment]:
        send = functools.partial(
            self.provider.confirm_payment,
            provider_id,
            payment_method=payment_method,
            return_url=return_url,
            idempotency_key=idempotency_key,
        )
        return await self._write(ProviderOperation.CONFIRM, key=idempotency_key, send=send)

    async def capture_payment(
        self, provider_id: str, *, amount: int, idempotency_key: IdempotencyKey
    ) -> WriteResult[ProviderPayment]:
        send = functools.partial(
            self.provider.capture_payment,
            provider_id,
            amount=amount,
            idempotency_key=idempotency_key,
        )
        return await self._write(ProviderOperation.CAPTURE, key=idempotency_key, send=send)

    async def cancel_payment(
        self, provider_id: str, *, idempotency_key: IdempotencyKey
    ) -> WriteResult[ProviderPayment]:
        send = functools.partial(
            self.provider.cancel_payment, provider_id, idempotency_key=idempotency_key
        )
        return await self._write(ProviderOperation.CANCEL, key=idempotency_key, send=send)

    async def refund_payment(
        self, provider_id: str, *, amount: int, idempotency_key: IdempotencyKey
    ) -> WriteResult[ProviderRefund]:
        send = functools.partial(
            self.provider.refund_payment,
            provider_id,
            amount=amount,
            idempotency_key=idempotency_key,
        )
        return await self._write(ProviderOperation.REFUND, key=idempotency_key, send=send)

    # -- reads ----------------------------------------------------------------------------

    async def retrieve_payment(self, provider_id: str) -> ReadResult[ProviderPayment]:
        send = functools.partial(self.provider.retrieve_payment, provider_id)
        return await self._read(ProviderOperation.RETRIEVE, send=send)

    async def find_payment(self, reference: str) -> ReadResult[ProviderPayment | None]:
        """The provider's payment for our reference, `Answered(None)` if it has none."""
        send = functools.partial(self.provider.find_payment, reference)
        return await self._read(ProviderOperation.FIND, send=send)

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], *, now: int) -> ProviderEvent:
        """Local work only (no call is made): passed straight to the adapter."""
        return self.provider.verify_webhook(body, headers, now=now)

    async def aclose(self) -> None:
        await self.provider.aclose()

    # -- the policy -----------------------------------------------------------------------

    async def _write(
        self,
        operation: ProviderOperation,
        *,
        key: IdempotencyKey,
        send: Callable[[], Awaitable[T]],
    ) -> WriteResult[T]:
        call = self._new_call(operation)
        started = time.monotonic()
        result: WriteResult[T]
        try:
            result = Answered(await self._try_until_settled(call, send), call.tries)
        except ProviderRejected as refusal:
            # With the same key, a provider replays the first try's outcome; a refusal
            # after a try that may have landed is still not proof that nothing happened.
            result = (
                Unknown(call.tries, cause=f"rejected_after_unknown:{refusal.code}")
                if call.maybe_applied
                else Rejected(refusal.code, refusal.message, refusal.status, call.tries)
            )
        except (ProviderNotReached, ProviderBusy, ProviderOutcomeUnknown) as error:
            result = (
                Unknown(call.tries, cause=_describe(error))
                if call.maybe_applied
                else NoEffect(_no_effect_reason(error), call.tries)
            )
        except _AdapterCrash as crash:
            result = Unknown(call.tries, cause=str(crash))
        self._record(call, result=result, key=key, started=started)
        return result

    async def _read(
        self, operation: ProviderOperation, *, send: Callable[[], Awaitable[T]]
    ) -> ReadResult[T]:
        call = self._new_call(operation)
        started = time.monotonic()
        result: ReadResult[T]
        try:
            result = Answered(await self._try_until_settled(call, send), call.tries)
        except ProviderRejected as refusal:
            result = Rejected(refusal.code, refusal.message, refusal.status, call.tries)
        except (ProviderNotReached, ProviderBusy, ProviderOutcomeUnknown) as error:
            result = Unavailable(_describe(error), call.tries)
        except _AdapterCrash as crash:
            result = Unavailable(str(crash), call.tries)
        self._record(call, result=result, key=None, started=started)
        return result

    def _new_call(self, operation: ProviderOperation) -> _Call:
        return _Call(operation, deadline=time.monotonic() + self._policy.deadline_s)

    async def _try_until_settled(self, call: _Call, send: Callable[[], Awaitable[T]]) -> T:
        """Try until an answer, a refusal, or retries/deadline run out (the last error is
        raised). stamina drives the loop; `_retry_wait` decides each retry and its wait."""
        retry_wait = functools.partial(self._retry_wait, call)
        async for attempt in stamina.retry_context(
            on=retry_wait, attempts=self._policy.max_tries, timeout=None
        ):
            with attempt:
                return await self._try_once(call, send)
        raise AssertionError("stamina ends with the answer or the last error")  # pragma: no cover

    async def _try_once(self, call: _Call, send: Callable[[], Awaitable[T]]) -> T:
        call.tries += 1
        scope = asyncio.timeout(call.deadline - time.monotonic())
        try:
            async with scope:
                value = await self.breaker.call(send)
        except CircuitOpen:
            self._count_try(call, "circuit_open")
            raise
        except ProviderOutcomeUnknown:
            call.maybe_applied = True
            self._count_try(call, "outcome_unknown")
            raise
        except ProviderNotReached:
            self._count_try(call, "not_reached")
            raise
        except ProviderBusy:
            self._count_try(call, "busy")
            raise
        except ProviderRejected:
            self._count_try(call, "rejected")
            raise
        except TimeoutError as error:
            call.maybe_applied = True
            if scope.expired():
                self._count_try(call, "deadline")
                raise _DeadlineReached("no answer before the call's deadline") from error
            raise self._crash(call, error) from error
        except Exception as error:
            call.maybe_applied = True
            raise self._crash(call, error) from error
        self._count_try(call, "answered")
        return value

    def _crash(self, call: _Call, error: Exception) -> _AdapterCrash:
        self._count_try(call, "adapter_error")
        logger.error(
            "provider_adapter_error",
            provider=self.provider.name,
            operation=call.operation.value,
            error_type=type(error).__name__,
            exc_info=error,
        )
        return _AdapterCrash(f"adapter_error:{type(error).__name__}")

    def _retry_wait(self, call: _Call, error: Exception) -> bool | float:
        """stamina's backoff hook: False (do not retry) or the seconds to wait first."""
        if isinstance(error, CircuitOpen) or not isinstance(
            error, ProviderNotReached | ProviderBusy | ProviderOutcomeUnknown
        ):
            return False
        if call.tries >= self._policy.max_tries:
            return False
        wait = self._backoff(call.tries, error)
        if time.monotonic() + wait + self._policy.min_try_budget_s > call.deadline:
            return False  # no room left for a whole try: end with what we know
        if self._metrics is not None:
            labels = (self.provider.name, call.operation.value, _describe(error))
            self._metrics.retries.labels(*labels).inc()
        logger.info(
            "provider_call_retry",
            provider=self.provider.name,
            operation=call.operation.value,
            after_try=call.tries,
            reason=_describe(error),
            wait_ms=round(wait * 1000),
        )
        return wait

    def _backoff(self, tries: int, error: ProviderError) -> float:
        """Equal jitter: half the capped exponential step, plus up to the other half at
        random, so that callers that failed together do not retry together."""
        if isinstance(error, ProviderBusy) and error.retry_after_s is not None:
            return min(max(error.retry_after_s, 0.0), self._policy.retry_after_cap_s)
        step = min(self._policy.backoff_max_s, self._policy.backoff_initial_s * 2.0 ** (tries - 1))
        return step / 2 + self._rng.uniform(0, step / 2)

    def _count_try(self, call: _Call, result: str) -> None:
        if self._metrics is not None:
            self._metrics.tries.labels(self.provider.name, call.operation.value, result).inc()

    def _record(
        self,
        call: _Call,
        *,
        result: WriteResult[T] | ReadResult[T],
        key: IdempotencyKey | None,
        started: float,
    ) -> None:
        seconds = time.monotonic() - started
        if self._metrics is not None:
            labels = (self.provider.name, call.operation.value)
            self._metrics.calls.labels(*labels, result.outcome.value).inc()
            self._metrics.duration.labels(*labels).observe(seconds)
        fields: dict[str, object] = {
            "provider": self.provider.name,
            "operation": call.operation.value,
            "outcome": result.outcome.value,
            "tries": call.tries,
            "duration_ms": round(seconds * 1000),
        }
        if key is not None:
            fields["idempotency_key"] = key
        match result:
            case Rejected(code=code, status=status):
                fields.update(code=code, status=status)
            case NoEffect(reason=reason):
                fields["reason"] = reason.value
            case Unknown(cause=cause) | Unavailable(cause=cause):
                fields["cause"] = cause
        quiet = result.outcome in {Outcome.ANSWERED, Outcome.REJECTED}
        (logger.info if quiet else logger.warning)("provider_call", **fields)


def _no_effect_reason(error: ProviderError) -> NoEffectReason:
    if isinstance(error, CircuitOpen):
        return NoEffectReason.CIRCUIT_OPEN
    if isinstance(error, ProviderBusy):
        return NoEffectReason.THROTTLED
    return NoEffectReason.NOT_REACHED


def _describe(error: ProviderError) -> str:
    """A short label for logs and metrics (never the provider's message)."""
    if isinstance(error, CircuitOpen):
        return "circuit_open"
    if isinstance(error, _DeadlineReached):
        return "deadline"
    if isinstance(error, ProviderBusy):
        return "busy"
    if isinstance(error, ProviderOutcomeUnknown):
        return "outcome_unknown"
    if isinstance(error, ProviderNotReached):
        return "not_reached"
    return type(error).__name__
