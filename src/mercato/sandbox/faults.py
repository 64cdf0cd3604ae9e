"""Fault knobs: latency, random 500s and 429s, and webhook delivery misbehaviour.

Set at start-up from the settings and changed at run time by `POST /v1/_sandbox/faults`.
Knobs live in the process (two sandbox processes have two sets), are bounded by the same
types as the settings, and never touch what was already committed: a random 500 or 429 is
decided before the request does anything.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict

from mercato.sandbox.config import LatencyMs, Rate, SandboxSettings


class FaultKnobs(BaseModel):
    """The knobs as a whole (the API's answer, and the state kept)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: LatencyMs = 0  # added before every API call
    error_rate: Rate = 0.0  # share of API calls answered 500 api_error, untouched
    rate_limit_rate: Rate = 0.0  # share of API calls answered 429 with Retry-After
    webhooks_paused: bool = False  # deliveries wait (they are kept, and sent on resume)
    webhook_duplicates: bool = False  # every event is delivered twice
    # Each event's first delivery waits a random 0 to SANDBOX_OUT_OF_ORDER_WINDOW_S, so
    # events closer together than that arrive in any order.
    webhook_out_of_order: bool = False


class FaultPatch(BaseModel):
    """A change of some knobs (the request body); the others keep their values."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: LatencyMs | None = None
    error_rate: Rate | None = None
    rate_limit_rate: Rate | None = None
    webhooks_paused: bool | None = None
    webhook_duplicates: bool | None = None
    webhook_out_of_order: bool | None = None


class Faults:
    """The process's current knobs and the dice that apply them."""

    def __init__(
        self,
        knobs: FaultKnobs,
        *,
        out_of_order_window_s: float = 2.0,
        dice: random.Random | None = None,
    ) -> None:
        self.knobs = knobs
        self.out_of_order_window_s = out_of_order_window_s
        # Fault injection, not security: a plain PRNG is the right tool.
        self._dice = dice or random.Random()  # noqa: S311

    @classmethod
    def from_settings(cls, settings: SandboxSettings) -> Faults:
        return cls(
            FaultKnobs(
                latency_ms=settings.latency_ms,
                error_rate=settings.error_rate,
                rate_limit_rate=settings.rate_limit_rate,
                webhooks_paused=settings.webhooks_paused,
                webhook_duplicates=settings.webhook_duplicates,
                webhook_out_of_order=settings.webhook_out_of_order,
            ),
            out_of_order_window_s=settings.out_of_order_window_s,
        )

    def apply(self, patch: FaultPatch) -> FaultKnobs:
        changes = patch.model_dump(exclude_none=True)
        self.knobs = self.knobs.model_copy(update=changes)
        return self.knobs

    def fails_now(self) -> bool:
        return self._roll(self.knobs.error_rate)

    def throttles_now(self) -> bool:
        return self._roll(self.knobs.rate_limit_rate)

    def first_delivery_delay_s(self) -> float:
        if not self.knobs.webhook_out_of_order:
            return 0.0
        return self._dice.uniform(0.0, self.out_of_order_window_s)

    def delivery_copies(self) -> int:
        return 2 if self.knobs.webhook_duplicates else 1

    def jitter(self, spread: float) -> float:
        """A factor in [1 - spread, 1 + spread] for retry delays."""
        return self._dice.uniform(1.0 - spread, 1.0 + spread)

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._dice.random() < rate
