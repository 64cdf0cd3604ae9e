"""The sandbox adapter's pure parts: webhook verification and the mapping of answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mercato.payments.providers.base import (
    ProviderBusy,
    ProviderEventKind,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderStatus,
    RefundStatus,
    WebhookRejected,
)
from mercato.payments.providers.sandbox import SandboxProvider, _interpret, _payment
from mercato.sandbox.signing import sign, signature_header

SECRET = "whsec_unit_test_secret_0123456789"
NOW = 1_800_000_000
INTENT: dict[str, Any] = {
    "id": "pi_" + "a" * 24,
    "object": "payment_intent",
    "amount": 1_000,
    "currency": "EUR",
    "reference": "ord-1",
    "status": "requires_payment_method",
    "capture_method": "automatic",
    "amount_capturable": 0,
    "amount_received": 0,
    "amount_refunded": 0,
    "last_payment_error": {"code": "card_declined", "message": "Your card was declined."},
    "next_action": None,
    "metadata": {},
    "created": NOW,
}


@pytest.fixture
async def provider() -> AsyncIterator[SandboxProvider]:
    adapter = SandboxProvider(
        base_url="http://127.0.0.1:9", api_key="sk_sandbox_unit_test_key", webhook_secrets=(SECRET,)
    )
    yield adapter
    await adapter.aclose()


def _event(event_type: str, data_object: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": event_type,
            "created": NOW,
            "data": {"object": data_object},
        }
    ).encode()


def _headers(body: bytes, *secrets: str, timestamp: int = NOW) -> dict[str, str]:
    return {
        "Sandbox-Signature": signature_header(
            body, secrets=secrets or (SECRET,), timestamp=timestamp
        )
    }


def test_a_signed_event_verifies_and_parses(provider: SandboxProvider) -> None:
    body = _event("payment_intent.payment_failed", INTENT)

    event = provider.verify_webhook(body, _headers(body), now=NOW)

    assert (event.event_id, event.created, event.kind) == (
        "evt_1",
        NOW,
        ProviderEventKind.PAYMENT_UPDATED,
    )
    assert event.payment is not None
    assert event.payment.status is ProviderStatus.REQUIRES_PAYMENT_METHOD
    assert event.payment.failure_code == "card_declined"


def test_refund_and_unknown_events(provider: SandboxProvider) -> None:
    refund = {
        "id": "re_1",
        "payment_intent": INTENT["id"],
        "amount": 5,
        "currency": "eur",
        "status": "succeeded",
    }
    refunded = _event("refund.succeeded", refund)
    other = _event("customer.created", {"id": "cus_1"})

    refund_event = provider.verify_webhook(refunded, _headers(refunded), now=NOW)
    ignored = provider.verify_webhook(other, _headers(other), now=NOW)

    assert refund_event.refund is not None
    assert refund_event.refund.status is RefundStatus.SUCCEEDED
    assert refund_event.refund.currency == "EUR"
    assert ignored.kind is ProviderEventKind.IGNORED


def test_any_of_several_signatures_and_header_case_are_accepted(provider: SandboxProvider) -> None:
    body = _event("payment_intent.succeeded", INTENT | {"status": "succeeded"})
    headers = {
        "sandbox-signature": signature_header(
            body, secrets=("whsec_retired_secret_000", SECRET), timestamp=NOW
        )
    }

    assert provider.verify_webhook(body, headers, now=NOW).event_type == "payment_intent.succeeded"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "t=1800000000",
        "v1=deadbeef",
        "t=abc,v1=deadbeef",
        "t=-1800000000,v1=deadbeef",
        "t=1800000000,t=1800000000,v1=deadbeef",
        "t=1800000000," + ",".join(["v1=00"] * 9),
        "t=1800000000,v1=" + "0" * 5_000,
        "t=1800000000,v1=é",
        "t=1800000000,v0=" + "0" * 64,
    ],
)
def test_malformed_signature_headers_are_rejected(provider: SandboxProvider, header: str) -> None:
    with pytest.raises(WebhookRejected):
        provider.verify_webhook(b"{}", {"Sandbox-Signature": header}, now=NOW)


def test_a_signature_over_another_timestamp_is_rejected(provider: SandboxProvider) -> None:
    body = _event("payment_intent.succeeded", INTENT)
    stolen = sign(body, secret=SECRET, timestamp=NOW - 1_000)

    with pytest.raises(WebhookRejected):
        provider.verify_webhook(body, {"Sandbox-Signature": f"t={NOW},v1={stolen}"}, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        _event("payment_intent.succeeded", {"id": "pi_1"}),
        _event("payment_intent.x", INTENT | {"status": "weird"}),
    ],
)
def test_a_verified_body_that_is_not_an_event_is_rejected(
    provider: SandboxProvider, body: bytes
) -> None:
    with pytest.raises(WebhookRejected):
        provider.verify_webhook(body, _headers(body), now=NOW)


def test_the_tolerance_holds_both_ways(provider: SandboxProvider) -> None:
    body = _event("payment_intent.succeeded", INTENT)
    for delta in (-300, 300):
        provider.verify_webhook(body, _headers(body, timestamp=NOW + delta), now=NOW)
    for delta in (-301, 301):
        with pytest.raises(WebhookRejected):
            provider.verify_webhook(body, _headers(body, timestamp=NOW + delta), now=NOW)


def _response(
    status: int, body: object = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = json.dumps(body).encode() if body is not None else b""
    return httpx.Response(status, content=content, headers=headers)


def _error(code: str, **extra: object) -> dict[str, object]:
    return {"error": {"type": "invalid_request_error", "code": code, "message": "m", **extra}}


def test_answers_map_to_the_protocols_errors() -> None:
    with pytest.raises(ProviderBusy) as busy:
        _interpret(_response(429, _error("rate_limit"), {"Retry-After": "2"}))
    assert busy.value.retry_after_s == 2.0
    with pytest.raises(ProviderBusy) as dated:
        _interpret(_response(429, None, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert dated.value.retry_after_s is None
    for unknown in (
        _response(500, _error("x")),
        _response(503),
        _response(502, "<html>"),
        _response(409, _error("idempotency_key_in_use")),
        _response(200, ["no"]),
        _response(204),
        _response(302),
    ):
        with pytest.raises(ProviderOutcomeUnknown):
            _interpret(unknown)
    with pytest.raises(ProviderRejected) as rejected:
        _interpret(_response(400, _error("amount_too_large")))
    assert (rejected.value.code, rejected.value.status) == ("amount_too_large", 400)
    with pytest.raises(ProviderRejected) as bare:
        _interpret(_response(404))
    assert bare.value.code == "http_404"
    assert (
        _interpret(
            _response(
                402,
                {
                    "error": {
                        "type": "card_error",
                        "code": "card_declined",
                        "payment_intent": INTENT,
                    }
                },
            )
        )
        == INTENT
    )


def test_an_error_message_is_bounded() -> None:
    with pytest.raises(ProviderRejected) as rejected:
        _interpret(_response(400, {"error": {"code": "c" * 1_000, "message": "m" * 1_000}}))
    assert len(rejected.value.code) <= 200
    assert len(rejected.value.message) <= 200


def test_a_payment_is_read_strictly() -> None:
    payment = _payment(
        INTENT
        | {
            "currency": "eur",
            "next_action": {"type": "redirect_to_url", "redirect_url": "http://x/a"},
        }
    )
    assert payment.currency == "EUR"
    assert payment.action_url == "http://x/a"
    for broken in ({"amount": "1000"}, {"amount": True}, {"status": "lost"}, {"id": None}):
        with pytest.raises(ValueError, match=r"."):
            _payment(INTENT | broken)


async def test_the_repr_hides_the_api_key() -> None:
    adapter = SandboxProvider(
        base_url="http://127.0.0.1:9", api_key="sk_sandbox_secret_value", webhook_secrets=(SECRET,)
    )
    await adapter.aclose()

    assert "sk_sandbox_secret_value" not in repr(adapter)


def test_an_adapter_without_a_webhook_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        SandboxProvider(base_url="http://127.0.0.1:9", api_key="k", webhook_secrets=())
