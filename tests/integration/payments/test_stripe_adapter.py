"""The Stripe adapter against recorded Stripe answers served over real HTTP: the requests it
sends (paths, form bodies, idempotency keys), how it reads answers, how it maps errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from mercato.payments.config import StripeSettings
from mercato.payments.providers.base import (
    CaptureMethod,
    CreatePayment,
    ProviderBusy,
    ProviderNotReached,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderStatus,
    RefundStatus,
)
from mercato.payments.providers.stripe import StripeProvider
from tests.integration.payments.conftest import RunningReplay
from tests.support.local_server import unused_port
from tests.support.stripe_replay import Reply

API_KEY = "sk_test_51MtwReplayKey0000000000000000000000000000000000000000000000000"
PI = "pi_3MtwBwLkdIwHu7ix28a3tqPa"
REFERENCE = "0193a1b2-7c2a-7d44-9a51-3c0a2b6f4e10"


def stripe_settings(api_base: str, **overrides: object) -> StripeSettings:
    values: dict[str, object] = {
        "api_key": SecretStr(API_KEY),
        "api_base": api_base,
        "connect_timeout_s": 0.5,
        "read_timeout_s": 0.3,
    }
    return StripeSettings.model_validate({**values, **overrides})


@pytest.fixture
async def stripe_provider(stripe_replay: RunningReplay) -> AsyncIterator[StripeProvider]:
    provider = StripeProvider(stripe_settings(stripe_replay.url))
    yield provider
    await provider.aclose()


async def test_create_sends_the_amount_reference_and_key_and_reads_the_intent(
    stripe_provider: StripeProvider, stripe_replay: RunningReplay
) -> None:
    stripe_replay.replay.reply(
        "POST", "/v1/payment_intents", Reply(fixture="payment_intent_created")
    )
    payment = await stripe_provider.create_payment(
        CreatePayment(
            amount=2000,
            currency="EUR",
            reference=REFERENCE,
            capture_method=CaptureMethod.MANUAL,
            metadata={"order_id": "ord_42"},
        ),
        idempotency_key="mercato-create_payment-att_1",
    )
    [sent] = stripe_replay.replay.received
    assert sent.form == {
        "amount": "2000",
        "currency": "eur",
        "capture_method": "manual",
        "automatic_payment_methods[enabled]": "true",
        "automatic_payment_methods[allow_redirects]": "never",
        "metadata[order_id]": "ord_42",
        "metadata[mercato_reference]": REFERENCE,
    }
    assert sent.idempotency_key == "mercato-create_payment-att_1"
    assert sent.authorization == f"Bearer {API_KEY}"
    assert payment.provider_id == PI
    assert payment.status is ProviderStatus.REQUIRES_PAYMENT_METHOD
    assert (payment.amount, payment.currency) == (2000, "EUR")


async def test_confirm_sends_the_payment_method_and_return_url(
    stripe_provider: StripeProvider, stripe_replay: RunningReplay
) -> None:
    path = f"/v1/payment_intents/{PI}/confirm"
    stripe_replay.replay.reply("POST", path, Reply(fixture="payment_intent_succeeded"))
    payment = await stripe_provider.confirm_payment(
        PI,
        payment_method="pm_card_visa",
        return_url="https://shop.example.com/return",
        idempotency_key="k-confirm",
    )
    [sent] = stripe_replay.replay.received_at("POST", path)
    assert sent.form == {
        "payment_method": "pm_card_visa",
        "return_url": "https://shop.example.com/return",
    }
    assert sent.idempotency_key == "k-confirm"
    assert payment.status is ProviderStatus.SUCCEEDED
    assert payment.amount_captured == 2000


async def test_a_payment_needing_3ds_carries_the_action_url(
    stripe_provider: StripeProvider, stripe_replay: RunningReplay
) -> None:
    path = f"/v1/payment_intents/{PI}/confirm"
    stripe_replay.replay.reply("POST", path, Reply(fixture="payment_intent_requires_action"))
    payment = await stripe_provider.confirm_payment(
        PI, payment_method="pm_card_threeds", return_url=None, idempotency_key="k"
    )
    assert payment.status is ProviderStatus.REQUIRES_ACTION
    assert payment.action_url is not None
    assert payment.action_url.startswith("https://hooks.stripe.com/3d_secure_2/")
    assert stripe_replay.replay.received[0].form == {"payment_method": "pm_card_threeds"}


async def test_a_declined_card_is_the_intent_answer_not_an_exception(
    stripe_provider: StripeProvider, stripe_replay: RunningReplay
) -> None:
    path = f"/v1/payment_intents/{PI}/confirm"
    stripe_replay.replay.reply("POST", path, Reply(402, fixture="error_card_declined"))
    payment = await stripe_provider.confirm_payment(
        PI, payment_method="pm_card_insufficient_funds", return_url=None, idempotency_key="k"
    )
    assert payment.status is ProviderStatus.REQUIRES_PAYMENT_METHOD
    assert payment.failure_code == "insufficient_funds"
    assert payment.failure_message == "Your card has insufficient funds."


async def test_capture_cancel_and_refund_send_what_stripe_expects(
    stripe_provider: StripeProvider, stripe_replay: RunningReplay
) -> None:
    replay = stripe_replay.replay
    replay.reply(
        "POST", f"/v1/payment_intents/{PI}/capture", Reply(fixture="payment_intent_captured")
    )
    replay.reply(
        "POST", f"/v1/payment_intents/{PI}/cancel", Reply(fixture="payment_intent_canceled")
    )
    replay.reply("POST", "/v1/refunds", Reply(fixture="refund_succeeded"))

    captured = await stripe_provider.capture_payment(PI, amount=1500, idempotency_key="k-cap")
    canceled = await stripe_provider.cancel_payment(PI, idempotency_key="k-cancel")
    refund = await stripe_provider.refund_payment(PI, amount=500, idempotency_key="k-refund")

    capture, cancel, refund_request = replay.received
    assert (capture.form, capture.idempotency_key) == ({"amount_to_capture": "1500"}, "k-cap")
    assert (cancel.form, cancel.idempotency_key) == ({}, "k-cancel")
    assert refund_request.form == {"payment_intent": PI, "amount": "500"}
    assert refund_request.idempotency_key == "k-refund"
    assert (captured.status, captured.amount_captured) == (ProviderStatus.SUCCEEDED, 1500)
    assert canceled.status is ProviderStatus.CANCELED
    assert (refund.status, refund.amount, refund.currency) == (RefundStatus.SUCCEEDED, 500, "EUR")
    assert refund.payment_provider_id == PI


async def test_retrieve_expands_the_charge_to_read_the_refunded_amount(
    stripe_provider: StripeProvider, stripe_replay: RunningReplay
) -> None:
    path = f"/v1/payment_intents/{PI}"
    stripe_replay.replay.reply("GET", path, Reply(fixture="payment_intent_retrieved_expanded"))
    payment = await stripe_provider.retrieve_payment(PI)
    [sent] = stripe_replay.replay.received
    assert sent.query == {"expand[0]": "latest_charge"}
    assert sent.idempotency_key is None
    assert (payment.amount_captured, payment.amount_refunded) == (2000, 500)


async def test_find_searches_our_reference_in_metadata(
    stripe_provider: StripeProvider, stripe_replay: RunningReplay
) -> None:
    path = "/v1/payment_intents/search"
    stripe_replay.replay.reply(
        "GET",
        path,
        Reply(fixture="payment_intent_search"),
        Reply(fixture="payment_intent_search_empty"),
    )
    found = await stripe_provider.find_payment(REFERENCE)
    assert found is not None
    assert found.provider_id == PI
    assert await stripe_provider.find_payment("it's-absent") is None
    first, second = stripe_replay.replay.received
    assert first.query["query"] == f"metadata['mercato_reference']:'{REFERENCE}'"
    assert second.query["query"] == "metadata['mercato_reference']:'it\\'s-absent'"


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        (Reply(404, fixture="error_resource_missing"), ProviderRejected, "resource_missing"),
        (
            Reply(400, fixture="error_unexpected_state"),
            ProviderRejected,
            "payment_intent_unexpected_state",
        ),
        (Reply(401, fixture="error_invalid_api_key"), ProviderRejected, "stripe_error"),
        (Reply(429, fixture="error_rate_limit"), ProviderBusy, None),
        (Reply(409, fixture="error_idempotency_in_progress"), ProviderBusy, None),
        (Reply(500, fixture="error_api_error"), ProviderOutcomeUnknown, None),
        (Reply(502, body=b"<html>Bad gateway</html>"), ProviderOutcomeUnknown, None),
        (Reply(200, body=b"not json"), ProviderOutcomeUnknown, None),
        (Reply(200, body=b'{"object": "payment_intent"}'), ProviderOutcomeUnknown, None),
    ],
)
async def test_stripe_errors_map_to_the_protocol(
    stripe_provider: StripeProvider,
    stripe_replay: RunningReplay,
    reply: Reply,
    error: type[Exception],
    code: str | None,
) -> None:
    stripe_replay.replay.reply("POST", f"/v1/payment_intents/{PI}/capture", reply)
    with pytest.raises(error) as raised:
        await stripe_provider.capture_payment(PI, amount=100, idempotency_key="k")
    if code is not None:
        assert isinstance(raised.value, ProviderRejected)
        assert raised.value.code == code
        assert raised.value.status == reply.status
    assert raised.value.__cause__ is None  # the SDK error (with its body) is not chained


async def test_retry_after_of_a_429_is_passed_on(
    stripe_provider: StripeProvider, stripe_replay: RunningReplay
) -> None:
    stripe_replay.replay.reply(
        "POST",
        f"/v1/payment_intents/{PI}/cancel",
        Reply(429, fixture="error_rate_limit", headers={"Retry-After": "2"}),
    )
    with pytest.raises(ProviderBusy) as raised:
        await stripe_provider.cancel_payment(PI, idempotency_key="k")
    assert raised.value.retry_after_s == 2.0


async def test_secrets_and_card_numbers_in_stripe_messages_are_scrubbed(
    stripe_provider: StripeProvider, stripe_replay: RunningReplay
) -> None:
    body = (
        b'{"error": {"type": "invalid_request_error", "code": "parameter_invalid_string",'
        b' "message": "Bad value 4242 4242 4242 4242 for key sk_live_abcDEF123 and'
        b' pi_3Mtw_secret_Xyz and whsec_abc123"}}'
    )
    stripe_replay.replay.reply("POST", "/v1/refunds", Reply(400, body=body))
    with pytest.raises(ProviderRejected) as raised:
        await stripe_provider.refund_payment(PI, amount=1, idempotency_key="k")
    text = f"{raised.value} {raised.value.message}"
    for secret in ("4242 4242 4242 4242", "sk_live_abcDEF123", "_secret_Xyz", "whsec_abc123"):
        assert secret not in text


async def test_a_closed_port_is_not_reached() -> None:
    provider = StripeProvider(stripe_settings(f"http://127.0.0.1:{unused_port()}"))
    try:
        with pytest.raises(ProviderNotReached):
            await provider.cancel_payment(PI, idempotency_key="k")
    finally:
        await provider.aclose()


async def test_an_answer_slower_than_the_read_timeout_is_an_unknown_outcome(
    stripe_provider: StripeProvider, stripe_replay: RunningReplay
) -> None:
    path = f"/v1/payment_intents/{PI}/confirm"
    stripe_replay.replay.reply("POST", path, Reply(fixture="payment_intent_succeeded", delay_s=0.6))
    with pytest.raises(ProviderOutcomeUnknown, match="ReadTimeout"):
        await stripe_provider.confirm_payment(
            PI, payment_method="pm_card_visa", return_url=None, idempotency_key="k"
        )
    assert len(stripe_replay.replay.received) == 1  # it was sent: the SDK did not retry
