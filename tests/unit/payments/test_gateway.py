"""The gateway's policy over a scripted provider: retries only when safe, one key for every
try, explicit outcomes, the deadline, the breaker, metrics and logs."""

from __future__ import annotations

import asyncio
import time
from typing import assert_never

import pytest
from prometheus_client import CollectorRegistry

from mercato.payments.config import ProviderCallPolicy
from mercato.payments.gateway import (
    IdempotencyKey,
    PaymentGateway,
    ProviderOperation,
    derive_idempotency_key,
)
from mercato.payments.outcomes import (
    Answered,
    NoEffect,
    NoEffectReason,
    Rejected,
    Unavailable,
    Unknown,
    WriteResult,
)
from mercato.payments.provider_metrics import GatewayMetrics
from mercato.payments.providers.base import (
    CreatePayment,
    ProviderBusy,
    ProviderNotReached,
    ProviderOutcomeUnknown,
    ProviderPayment,
    ProviderRejected,
)
from tests.support.logs import captured_logs
from tests.support.scripted_provider import ScriptedProvider, payment, refund

KEY = derive_idempotency_key(ProviderOperation.CONFIRM, object_id="att_1")
FAST = ProviderCallPolicy(
    deadline_s=2.0,
    max_tries=4,
    backoff_initial_s=0.001,
    backoff_max_s=0.004,
    retry_after_cap_s=0.05,
    min_try_budget_s=0.01,
    breaker_failure_threshold=100,
    breaker_recovery_s=0.05,
)


def gateway_over(
    provider: ScriptedProvider, policy: ProviderCallPolicy = FAST, **kwargs: object
) -> PaymentGateway:
    return PaymentGateway(provider, policy=policy, **kwargs)  # type: ignore[arg-type]


async def confirm(gateway: PaymentGateway) -> WriteResult[ProviderPayment]:
    return await gateway.confirm_payment(
        "pay_1", payment_method="pm_card_visa", return_url=None, idempotency_key=KEY
    )


def describe(result: WriteResult[ProviderPayment]) -> str:
    """Exhaustive over the union: mypy fails this file if a new outcome is added."""
    match result:
        case Answered(value=value):
            return f"answered:{value.status}"
        case Rejected(code=code):
            return f"rejected:{code}"
        case NoEffect(reason=reason):
            return f"no_effect:{reason}"
        case Unknown(cause=cause):
            return f"unknown:{cause}"
        case _:
            assert_never(result)


def test_idempotency_keys_come_from_our_ids_and_are_stable() -> None:
    first = derive_idempotency_key(ProviderOperation.CONFIRM, object_id="att_1")
    assert first == derive_idempotency_key(ProviderOperation.CONFIRM, object_id="att_1")
    assert first != derive_idempotency_key(ProviderOperation.CREATE, object_id="att_1")
    assert first != derive_idempotency_key(ProviderOperation.CONFIRM, object_id="att_2")
    assert len(first) <= 255  # Stripe's limit


@pytest.mark.parametrize("object_id", ["", "has space", "x" * 129, "a/b"])
def test_idempotency_keys_refuse_odd_ids(object_id: str) -> None:
    with pytest.raises(ValueError, match="object_id"):
        derive_idempotency_key(ProviderOperation.REFUND, object_id=object_id)


def test_reads_have_no_idempotency_key() -> None:
    with pytest.raises(ValueError, match="reads"):
        derive_idempotency_key(ProviderOperation.RETRIEVE, object_id="att_1")


async def test_an_answer_on_the_first_try_is_answered() -> None:
    provider = ScriptedProvider()
    provider.script("confirm_payment", payment())
    result = await confirm(gateway_over(provider))
    assert describe(result) == "answered:succeeded"
    assert isinstance(result, Answered)
    assert result.tries == 1


async def test_unknown_outcomes_are_retried_with_the_same_key() -> None:
    provider = ScriptedProvider()
    provider.script(
        "confirm_payment",
        ProviderOutcomeUnknown("read timeout"),
        ProviderOutcomeUnknown("502"),
        payment(),
    )
    result = await confirm(gateway_over(provider))
    assert isinstance(result, Answered)
    assert result.tries == 3
    assert [call.idempotency_key for call in provider.calls] == [KEY] * 3


async def test_a_rejection_is_never_retried() -> None:
    provider = ScriptedProvider()
    provider.script("confirm_payment", ProviderRejected("card_expired", "expired", status=400))
    result = await confirm(gateway_over(provider))
    assert result == Rejected("card_expired", "expired", 400, tries=1)
    assert len(provider.calls) == 1


async def test_not_reached_on_every_try_certainly_had_no_effect() -> None:
    provider = ScriptedProvider()
    provider.script("confirm_payment", *[ProviderNotReached("refused")] * 4)
    result = await confirm(gateway_over(provider))
    assert result == NoEffect(NoEffectReason.NOT_REACHED, tries=4)


async def test_throttling_on_every_try_had_no_effect() -> None:
    provider = ScriptedProvider()
    provider.script("capture_payment", *[ProviderBusy("429")] * 4)
    result = await gateway_over(provider).capture_payment("pay_1", amount=5, idempotency_key=KEY)
    assert result == NoEffect(NoEffectReason.THROTTLED, tries=4)


async def test_one_unknown_try_makes_the_whole_call_unknown() -> None:
    provider = ScriptedProvider()
    provider.script(
        "confirm_payment",
        ProviderOutcomeUnknown("read timeout"),
        *[ProviderNotReached("refused")] * 3,
    )
    result = await confirm(gateway_over(provider))
    assert result == Unknown(tries=4, cause="not_reached")


async def test_a_rejection_after_an_unknown_try_stays_unknown() -> None:
    provider = ScriptedProvider()
    provider.script(
        "refund_payment",
        ProviderOutcomeUnknown("500"),
        ProviderRejected("charge_already_refunded", "refunded", status=400),
    )
    result = await gateway_over(provider).refund_payment("pay_1", amount=5, idempotency_key=KEY)
    assert result == Unknown(tries=2, cause="rejected_after_unknown:charge_already_refunded")


async def test_retry_after_is_honoured_up_to_its_cap() -> None:
    provider = ScriptedProvider()
    provider.script("cancel_payment", ProviderBusy("429", retry_after_s=0.03), payment())
    started = time.monotonic()
    result = await gateway_over(provider).cancel_payment("pay_1", idempotency_key=KEY)
    assert isinstance(result, Answered)
    assert time.monotonic() - started >= 0.03

    provider.script("cancel_payment", ProviderBusy("429", retry_after_s=3_600), payment())
    started = time.monotonic()
    result = await gateway_over(provider).cancel_payment("pay_1", idempotency_key=KEY)
    assert isinstance(result, Answered)
    assert time.monotonic() - started < 1  # capped at 0.05 s, not an hour


async def test_a_try_cut_by_the_deadline_is_unknown_for_a_write() -> None:
    provider = ScriptedProvider()

    async def slow() -> ProviderPayment:
        await asyncio.sleep(5)
        raise AssertionError("cancelled by the deadline")

    provider.script("create_payment", slow)
    policy = FAST.model_copy(update={"deadline_s": 0.1, "min_try_budget_s": 0.05})

    started = time.monotonic()
    result = await gateway_over(provider, policy).create_payment(
        CreatePayment(amount=100, currency="EUR", reference="pi_ours"), idempotency_key=KEY
    )
    assert result == Unknown(tries=1, cause="deadline")
    assert time.monotonic() - started < 0.5


async def test_no_retry_starts_without_room_for_a_whole_try() -> None:
    provider = ScriptedProvider()
    provider.script("confirm_payment", *[ProviderNotReached("refused")] * 4)
    policy = FAST.model_copy(
        update={
            "deadline_s": 0.2,
            "min_try_budget_s": 0.15,
            "backoff_initial_s": 0.2,
            "backoff_max_s": 0.2,
        }
    )
    result = await confirm(gateway_over(provider, policy))
    assert result == NoEffect(NoEffectReason.NOT_REACHED, tries=1)


async def test_reads_that_get_no_answer_are_unavailable() -> None:
    provider = ScriptedProvider()
    provider.script("retrieve_payment", *[ProviderOutcomeUnknown("500")] * 4)
    provider.script("find_payment", None)
    gateway = gateway_over(provider)
    assert await gateway.retrieve_payment("pay_1") == Unavailable("outcome_unknown", tries=4)
    assert await gateway.find_payment("pi_ours") == Answered(None, tries=1)


async def test_an_adapter_crash_on_a_write_is_unknown_and_not_retried() -> None:
    provider = ScriptedProvider()
    provider.script("refund_payment", KeyError("amount"))
    with captured_logs() as logs:
        result = await gateway_over(provider).refund_payment("pay_1", amount=5, idempotency_key=KEY)
    assert result == Unknown(tries=1, cause="adapter_error:KeyError")
    assert len(provider.calls) == 1
    assert logs.lines("provider_adapter_error")[0]["level"] == "error"


async def test_the_breaker_opens_and_then_fails_fast_without_sending() -> None:
    provider = ScriptedProvider()
    policy = FAST.model_copy(update={"breaker_failure_threshold": 3, "max_tries": 3})
    gateway = gateway_over(provider, policy)
    provider.script("confirm_payment", *[ProviderNotReached("refused")] * 3)
    assert await confirm(gateway) == NoEffect(NoEffectReason.NOT_REACHED, tries=3)
    assert await gateway.breaker.state() == "opened"

    result = await confirm(gateway)
    assert result == NoEffect(NoEffectReason.CIRCUIT_OPEN, tries=1)
    assert len(provider.calls) == 3  # nothing was sent


async def test_after_recovery_one_probe_goes_through_and_its_success_closes() -> None:
    provider = ScriptedProvider()
    policy = FAST.model_copy(update={"breaker_failure_threshold": 1, "max_tries": 1})
    gateway = gateway_over(provider, policy)
    provider.script("retrieve_payment", ProviderOutcomeUnknown("500"))
    assert isinstance(await gateway.retrieve_payment("pay_1"), Unavailable)
    await asyncio.sleep(policy.breaker_recovery_s + 0.01)

    release = asyncio.Event()

    async def held_probe() -> ProviderPayment:
        await release.wait()
        return payment()

    provider.script("retrieve_payment", held_probe)
    probe = asyncio.create_task(gateway.retrieve_payment("pay_1"))
    await asyncio.sleep(0.01)
    assert await gateway.breaker.state() == "half-opened"
    assert await gateway.retrieve_payment("pay_1") == Unavailable("circuit_open", tries=1)
    release.set()
    assert isinstance(await probe, Answered)
    assert await gateway.breaker.state() == "closed"


async def test_a_failed_probe_reopens_the_breaker() -> None:
    provider = ScriptedProvider()
    policy = FAST.model_copy(update={"breaker_failure_threshold": 1, "max_tries": 1})
    gateway = gateway_over(provider, policy)
    provider.script("retrieve_payment", ProviderNotReached("x"), ProviderNotReached("x"))
    await gateway.retrieve_payment("pay_1")
    await asyncio.sleep(policy.breaker_recovery_s + 0.01)
    await gateway.retrieve_payment("pay_1")
    assert await gateway.breaker.state() == "opened"


async def test_rejections_and_throttling_do_not_open_the_breaker() -> None:
    provider = ScriptedProvider()
    policy = FAST.model_copy(update={"breaker_failure_threshold": 2, "max_tries": 1})
    gateway = gateway_over(provider, policy)
    provider.script(
        "capture_payment",
        ProviderRejected("amount_too_large", "too much", status=400),
        ProviderBusy("429"),
        ProviderRejected("amount_too_large", "too much", status=400),
        ProviderBusy("429"),
    )
    for _ in range(4):
        await gateway.capture_payment("pay_1", amount=5, idempotency_key=KEY)
    assert await gateway.breaker.state() == "closed"


async def test_metrics_count_calls_tries_retries_and_breaker_state() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    provider = ScriptedProvider()
    policy = FAST.model_copy(update={"breaker_failure_threshold": 2})
    gateway = gateway_over(provider, policy, metrics=metrics)
    provider.script("confirm_payment", ProviderOutcomeUnknown("500"), payment())
    await confirm(gateway)
    provider.script("confirm_payment", ProviderNotReached("x"), ProviderNotReached("x"))
    await confirm(gateway)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"provider": "scripted", **labels})

    op = {"operation": "confirm_payment"}
    assert value("mercato_payments_provider_calls_total", **op, outcome="answered") == 1
    assert value("mercato_payments_provider_calls_total", **op, outcome="no_effect") == 1
    assert value("mercato_payments_provider_tries_total", **op, result="not_reached") == 2
    assert value("mercato_payments_provider_tries_total", **op, result="circuit_open") == 1
    assert value("mercato_payments_provider_retries_total", **op, reason="outcome_unknown") == 1
    assert value("mercato_payments_provider_call_duration_seconds_count", **op) == 2
    assert value("mercato_payments_provider_breaker_state") == 2  # open
    assert value("mercato_payments_provider_breaker_transitions_total", state="opened") == 1


async def test_every_call_is_logged_with_its_outcome_and_key() -> None:
    provider = ScriptedProvider()
    provider.script("confirm_payment", ProviderOutcomeUnknown("500"), payment())
    with captured_logs() as logs:
        await confirm(gateway_over(provider))
    [retry] = logs.lines("provider_call_retry")
    assert retry["reason"] == "outcome_unknown"
    [call] = logs.lines("provider_call")
    assert call["outcome"] == "answered"
    assert call["tries"] == 2
    assert call["idempotency_key"] == KEY


async def test_refunds_and_webhooks_pass_through_and_aclose_closes_the_adapter() -> None:
    provider = ScriptedProvider()
    provider.script("refund_payment", refund())
    gateway = gateway_over(provider)
    result = await gateway.refund_payment("pay_1", amount=500, idempotency_key=IdempotencyKey("k"))
    assert isinstance(result, Answered)
    assert result.value.amount == 500
    assert gateway.verify_webhook(b"{}", {}, now=7).created == 7
    await gateway.aclose()
    assert provider.closed
