"""Fault knobs: bounded, patched field by field, applied by the dice."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from mercato.sandbox.config import SandboxSettings
from mercato.sandbox.faults import FaultKnobs, FaultPatch, Faults


def _faults(**knobs: object) -> Faults:
    return Faults(
        FaultKnobs.model_validate(knobs), out_of_order_window_s=2.0, dice=random.Random(1)
    )


def test_a_patch_changes_only_what_it_names() -> None:
    faults = _faults(latency_ms=100, webhook_duplicates=True)

    knobs = faults.apply(FaultPatch(error_rate=0.25))

    assert knobs == FaultKnobs(latency_ms=100, webhook_duplicates=True, error_rate=0.25)


@pytest.mark.parametrize(
    "patch",
    [{"error_rate": 1.01}, {"rate_limit_rate": -1}, {"latency_ms": 30_001}, {"surprise": 1}],
)
def test_knobs_are_bounded(patch: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FaultPatch.model_validate(patch)


def test_rates_zero_and_one_are_never_and_always() -> None:
    never, always = _faults(), _faults(error_rate=1.0, rate_limit_rate=1.0)

    assert not any(never.fails_now() or never.throttles_now() for _ in range(1_000))
    assert all(always.fails_now() and always.throttles_now() for _ in range(1_000))


def test_a_rate_is_roughly_honoured() -> None:
    faults = _faults(error_rate=0.3)

    share = sum(faults.fails_now() for _ in range(10_000)) / 10_000

    assert 0.27 < share < 0.33


def test_webhook_knobs() -> None:
    plain, shuffled = _faults(), _faults(webhook_out_of_order=True, webhook_duplicates=True)

    assert (plain.delivery_copies(), plain.first_delivery_delay_s()) == (1, 0.0)
    assert shuffled.delivery_copies() == 2
    delays = [shuffled.first_delivery_delay_s() for _ in range(200)]
    assert 0 <= min(delays) < max(delays) <= 2.0


def test_the_start_up_knobs_come_from_the_settings() -> None:
    settings = SandboxSettings(latency_ms=20, error_rate=0.1, webhooks_paused=True)

    assert Faults.from_settings(settings).knobs == FaultKnobs(
        latency_ms=20, error_rate=0.1, webhooks_paused=True
    )
