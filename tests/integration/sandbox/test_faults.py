"""Fault knobs, turned on and off at run time."""

from __future__ import annotations

import time

import httpx
import pytest

from mercato.payments.providers.base import ProviderBusy, ProviderOutcomeUnknown
from mercato.payments.providers.sandbox import SandboxProvider
from tests.integration.sandbox.conftest import NO_FAULTS, Sandbox


async def test_the_knobs_are_read_and_changed_at_run_time(sandbox: Sandbox) -> None:
    assert (await sandbox.api.get("/v1/_sandbox/faults")).json() == NO_FAULTS

    changed = await sandbox.set_faults(latency_ms=50, webhook_duplicates=True)

    assert changed == NO_FAULTS | {"latency_ms": 50, "webhook_duplicates": True}
    assert (await sandbox.api.get("/v1/_sandbox/faults")).json() == changed


@pytest.mark.parametrize(
    "knobs",
    [
        {"error_rate": 1.5},
        {"error_rate": -0.1},
        {"latency_ms": 30_001},
        {"latency_ms": "slow"},
        {"webhooks_paused": "maybe"},
        {"chaos": True},
    ],
)
async def test_knobs_are_bounded(sandbox: Sandbox, knobs: dict[str, object]) -> None:
    refused = await sandbox.api.post("/v1/_sandbox/faults", json=knobs)

    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_request_error"


async def test_knobs_need_the_api_key(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as anonymous:
        refused = await anonymous.post("/v1/_sandbox/faults", json={"error_rate": 1.0})

    assert refused.status_code == 401
    assert (await sandbox.api.get("/v1/_sandbox/faults")).json()["error_rate"] == 0.0


async def test_latency_delays_every_api_call(sandbox: Sandbox) -> None:
    await sandbox.set_faults(latency_ms=300)
    started = time.monotonic()

    await sandbox.create_intent()

    assert time.monotonic() - started >= 0.3


async def test_error_rate_answers_500_before_doing_anything(
    sandbox: Sandbox, provider: SandboxProvider, reference: str
) -> None:
    await sandbox.set_faults(error_rate=1.0)
    body = {"amount": 100, "currency": "EUR", "reference": reference}

    failed = await sandbox.api.post("/v1/payment_intents", json=body)
    with pytest.raises(ProviderOutcomeUnknown):
        await provider.find_payment(reference)
    # The sandbox's own controls and books stay reachable.
    assert (await sandbox.api.get("/v1/ledger")).status_code == 200
    await sandbox.set_faults(error_rate=0.0)

    assert failed.status_code == 500
    assert failed.json()["error"]["type"] == "api_error"
    assert failed.json()["error"]["code"] == "sandbox_fault"
    assert await provider.find_payment(reference) is None  # nothing was created


async def test_rate_limit_rate_answers_429_with_retry_after(
    sandbox: Sandbox, provider: SandboxProvider
) -> None:
    await sandbox.set_faults(rate_limit_rate=1.0)

    throttled = await sandbox.api.get("/v1/payment_intents", params={"reference": "x"})
    with pytest.raises(ProviderBusy) as busy:
        await provider.find_payment("x")

    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert throttled.json()["error"]["type"] == "rate_limit_error"
    assert busy.value.retry_after_s == 1.0


async def test_half_the_calls_fail_at_error_rate_one_half(sandbox: Sandbox) -> None:
    await sandbox.set_faults(error_rate=0.5)

    statuses = [
        (await sandbox.api.get("/v1/payment_intents", params={"reference": "x"})).status_code
        for _ in range(60)
    ]

    assert set(statuses) == {200, 500}
    assert 10 <= statuses.count(500) <= 50  # 1 in ~10^5 chance of a false alarm
