"""The gateway in front of the real Stripe adapter, over real HTTP to the replay server:
retries with one idempotency key, Retry-After, unknown outcomes, the breaker, and logs
without secrets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from mercato.payments.config import ProviderCallPolicy
from mercato.payments.gateway import PaymentGateway, ProviderOperation, derive_idempotency_key
from mercato.payments.outcomes import Answered, NoEffect, NoEffectReason, Rejected, Unknown
from mercato.payments.provider_metrics import GatewayMetrics
from mercato.payments.providers.base import CreatePayment, ProviderStatus
from mercato.payments.providers.stripe import StripeProvider
from tests.integration.payments.conftest import RunningReplay
from tests.integration.payments.test_stripe_adapter import API_KEY, PI, stripe_settings
from tests.support.local_server import unused_port
from tests.support.logs import captured_logs
from tests.support.stripe_replay import Reply

POLICY = ProviderCallPolicy(
    deadline_s=3.0,
    max_tries=3,
    backoff_initial_s=0.005,
    backoff_max_s=0.02,
    retry_after_cap_s=0.2,
    min_try_budget_s=0.05,
    breaker_failure_threshold=50,
    breaker_recovery_s=0.2,
)
CONFIRM = f"/v1/payment_intents/{PI}/confirm"
KEY = derive_idempotency_key(ProviderOperation.CONFIRM, object_id="0193a1b2-attempt-1")


@pytest.fixture
async def gateway(stripe_replay: RunningReplay) -> AsyncIterator[PaymentGateway]:
    gateway = PaymentGateway(StripeProvider(stripe_settings(stripe_replay.url)), policy=POLICY)
    yield gateway
    await gateway.aclose()


async def confirm(gateway: PaymentGateway) -> object:
    return await gateway.confirm_payment(
        PI, payment_method="pm_card_visa", return_url=None, idempotency_key=KEY
    )


async def test_5xx_then_an_answer_is_answered_with_one_key_on_every_try(
    gateway: PaymentGateway, stripe_replay: RunningReplay
) -> None:
    stripe_replay.replay.reply(
        "POST",
        CONFIRM,
        Reply(500, fixture="error_api_error"),
        Reply(503, body=b"upstream unavailable"),
        Reply(fixture="payment_intent_succeeded"),
    )
    result = await confirm(gateway)
    assert isinstance(result, Answered)
    assert result.value.status is ProviderStatus.SUCCEEDED
    assert result.tries == 3
    sent = stripe_replay.replay.received_at("POST", CONFIRM)
    assert [request.idempotency_key for request in sent] == [KEY] * 3
    assert len({tuple(request.form.items()) for request in sent}) == 1  # the same request


async def test_a_429_is_retried_after_its_retry_after(
    gateway: PaymentGateway, stripe_replay: RunningReplay
) -> None:
    stripe_replay.replay.reply(
        "POST",
        f"/v1/payment_intents/{PI}/capture",
        Reply(429, fixture="error_rate_limit", headers={"Retry-After": "0.15"}),
        Reply(fixture="payment_intent_captured"),
    )
    started = time.monotonic()
    key = derive_idempotency_key(ProviderOperation.CAPTURE, object_id="capture-1")
    result = await gateway.capture_payment(PI, amount=1500, idempotency_key=key)
    assert isinstance(result, Answered)
    assert time.monotonic() - started >= 0.15


async def test_answers_lost_to_the_read_timeout_end_unknown_after_every_try(
    gateway: PaymentGateway, stripe_replay: RunningReplay
) -> None:
    stripe_replay.replay.reply(
        "POST", CONFIRM, Reply(fixture="payment_intent_succeeded", delay_s=0.5)
    )
    result = await confirm(gateway)
    assert result == Unknown(tries=3, cause="outcome_unknown")
    sent = stripe_replay.replay.received_at("POST", CONFIRM)
    assert [request.idempotency_key for request in sent] == [KEY] * 3


async def test_a_refused_connection_on_every_try_had_no_effect() -> None:
    provider = StripeProvider(stripe_settings(f"http://127.0.0.1:{unused_port()}"))
    gateway = PaymentGateway(provider, policy=POLICY)
    try:
        result = await gateway.create_payment(
            CreatePayment(amount=100, currency="EUR", reference="ref-1"),
            idempotency_key=derive_idempotency_key(ProviderOperation.CREATE, object_id="a-1"),
        )
    finally:
        await gateway.aclose()
    assert result == NoEffect(NoEffectReason.NOT_REACHED, tries=3)


async def test_a_4xx_is_one_request_and_a_rejection(
    gateway: PaymentGateway, stripe_replay: RunningReplay
) -> None:
    stripe_replay.replay.reply("POST", "/v1/refunds", Reply(404, fixture="error_resource_missing"))
    key = derive_idempotency_key(ProviderOperation.REFUND, object_id="refund-1")
    result = await gateway.refund_payment(PI, amount=100, idempotency_key=key)
    assert isinstance(result, Rejected)
    assert (result.code, result.status, result.tries) == ("resource_missing", 404, 1)
    assert len(stripe_replay.replay.received) == 1


async def test_the_breaker_opens_on_5xx_fails_fast_then_recovers_through_one_probe(
    stripe_replay: RunningReplay,
) -> None:
    registry = CollectorRegistry()
    policy = POLICY.model_copy(update={"breaker_failure_threshold": 3})
    gateway = PaymentGateway(
        StripeProvider(stripe_settings(stripe_replay.url)),
        policy=policy,
        metrics=GatewayMetrics(registry),
    )
    replay = stripe_replay.replay
    try:
        replay.reply("POST", CONFIRM, Reply(500, fixture="error_api_error"))
        assert await confirm(gateway) == Unknown(tries=3, cause="outcome_unknown")
        assert await gateway.breaker.state() == "opened"

        replay.reply("POST", CONFIRM, Reply(fixture="payment_intent_succeeded"))
        assert await confirm(gateway) == NoEffect(NoEffectReason.CIRCUIT_OPEN, tries=1)
        assert len(replay.received) == 3  # nothing sent while open

        await asyncio.sleep(policy.breaker_recovery_s + 0.05)
        result = await confirm(gateway)
        assert isinstance(result, Answered)
        assert await gateway.breaker.state() == "closed"
        assert len(replay.received) == 4
    finally:
        await gateway.aclose()
    state = registry.get_sample_value(
        "mercato_payments_provider_breaker_state", {"provider": "stripe"}
    )
    assert state == 0


async def test_no_secret_or_card_data_reaches_the_logs(
    gateway: PaymentGateway, stripe_replay: RunningReplay
) -> None:
    card_number = "4000002500003155"
    stripe_replay.replay.reply(
        "POST",
        CONFIRM,
        Reply(500, fixture="error_api_error"),
        Reply(
            400,
            body=(
                b'{"error": {"type": "invalid_request_error", "code": "card_number_in_wrong_field",'
                b' "message": "Do not send ' + card_number.encode() + b' in metadata"}}'
            ),
        ),
    )
    stripe_replay.replay.reply("POST", "/v1/refunds", Reply(fixture="refund_succeeded"))
    with captured_logs() as logs:
        await confirm(gateway)
        await gateway.refund_payment(
            PI,
            amount=500,
            idempotency_key=derive_idempotency_key(ProviderOperation.REFUND, object_id="r-2"),
        )
    assert logs.lines("provider_call")
    for secret in (API_KEY, card_number, "_secret_", "whsec_"):
        assert secret not in logs.text
