"""The webhook retry schedule: exponential from the base, capped, jittered ±20 %."""

from __future__ import annotations

import random

import pytest

from mercato.sandbox.deliveries import JITTER, retry_delay_s
from mercato.sandbox.faults import FaultKnobs, Faults


@pytest.mark.parametrize(
    ("attempt", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (7, 64.0), (11, 600.0), (1_000, 600.0)]
)
def test_delays_double_until_the_cap(attempt: int, delay: float) -> None:
    assert retry_delay_s(attempt, base_s=1.0, cap_s=600.0) == delay


def test_jitter_stays_within_twenty_percent() -> None:
    faults = Faults(FaultKnobs(), dice=random.Random(7))
    delays = [
        retry_delay_s(3, base_s=1.0, cap_s=600.0, jitter=faults.jitter(JITTER)) for _ in range(500)
    ]
    assert 3.2 <= min(delays) < 3.4
    assert 4.6 < max(delays) <= 4.8
