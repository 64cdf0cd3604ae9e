"""One circuit breaker per payment provider (purgatory), with a single half-open probe.

purgatory keeps the state machine (closed → opened after `threshold` consecutive failures
→ half-opened once `ttl` has passed → closed on success, opened again on failure). Two
things are ours:

- what counts as a failure: only outcomes that say the provider is in trouble
  (`ProviderNotReached`, `ProviderOutcomeUnknown`, a try cut by the deadline, an adapter
  crash). A 4xx (`ProviderRejected`) or a 429 (`ProviderBusy`) is an answer from a
  working provider: it counts as a success and resets the count. A 429 is often about one
  hot object or our own key's quota; opening the breaker on it would stop every payment.
- half-open lets exactly one probe through: purgatory itself would let every caller
  through while half-opened, so a recovering provider would get the whole backlog at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import structlog
from purgatory import AsyncCircuitBreakerFactory, ContextChanged, Event
from purgatory.domain.model import OpenedState

from mercato.payments.providers.base import ProviderBusy, ProviderNotReached, ProviderRejected

T = TypeVar("T")

BreakerState = Literal["closed", "opened", "half-opened"]
StateListener = Callable[[str, BreakerState], None]

_HALF_OPENED: BreakerState = "half-opened"
logger = structlog.get_logger(__name__)


class CircuitOpen(ProviderNotReached):
    """The breaker refused the call before anything was sent."""


class ProviderBreaker:
    """The breaker of one provider; `call` runs one try through it."""

    def __init__(
        self,
        provider: str,
        *,
        failure_threshold: int,
        recovery_s: float,
        on_state_change: StateListener | None = None,
    ) -> None:
        self.provider = provider
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=failure_threshold,
            default_ttl=recovery_s,
            # Excluded exceptions end the request as a success in purgatory's model.
            exclude=[ProviderRejected, ProviderBusy],
        )
        self._on_state_change = on_state_change
        self._factory.add_listener(self._state_changed)

    async def state(self) -> BreakerState:
        """The state as last recorded (an open breaker past its recovery time still reads
        "opened" until the next call turns it half-opened)."""
        breaker = await self._factory.get_breaker(self.provider)
        return breaker.context.state

    async def call(self, send: Callable[[], Awaitable[T]]) -> T:
        """Run `send` through the breaker, or raise `CircuitOpen` without running it."""
        breaker = await self._factory.get_breaker(self.provider)
        if breaker.context.state == _HALF_OPENED:
            # purgatory is half-opened only while a probe is in flight (the probe's end
            # closes or reopens it): everyone else fails fast meanwhile.
            raise CircuitOpen(f"{self.provider}: circuit half-open, a probe is in flight")
        try:
            async with breaker:
                return await send()
        except OpenedState:
            raise CircuitOpen(f"{self.provider}: circuit open") from None

    def _state_changed(self, circuit: str, event_type: str, event: Event) -> None:
        if event_type != "state_changed" or not isinstance(event, ContextChanged):
            return
        logger.warning("provider_breaker_state_changed", provider=circuit, state=event.state)
        if self._on_state_change is not None:
            self._on_state_change(circuit, event.state)
