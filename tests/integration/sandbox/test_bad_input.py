"""Bad input gets the provider's error shape and a 4xx: never a 500, never a stack trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.sandbox.conftest import Sandbox

VALID = {"amount": 1_000, "currency": "EUR", "reference": "ord-bad-input"}


def _assert_provider_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert set(error) <= {"type", "code", "message", "param"}
    assert error["type"] in {"invalid_request_error", "card_error", "api_error", "rate_limit_error"}
    assert "Traceback" not in response.text
    return error


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 10**30},
        {"amount": 0},
        {"amount": -5},
        {"amount": 10.5},
        {"amount": 1e3},
        {"amount": "100"},
        {"amount": True},
        {"amount": None},
        {"currency": "XXX"},
        {"currency": 978},
        {"currency": "EURO"},
        {"reference": "a\u0000b"},
        {"reference": "x" * 201},
        {"reference": ""},
        {"reference": None},
        {"capture_method": "later"},
        {"metadata": []},
        {"metadata": {"k": {"nested": 1}}},
        {"metadata": {"k\u0000": "v"}},
        {"metadata": {f"k{n}": "v" for n in range(51)}},
        {"unknown_field": 1},
    ],
)
async def test_a_bad_field_is_a_400_naming_it(sandbox: Sandbox, change: dict[str, Any]) -> None:
    error = _assert_provider_error(
        await sandbox.api.post("/v1/payment_intents", json=VALID | change), 400
    )

    assert error["code"] in {"parameter_invalid", "parameter_missing"}
    assert error["param"].split("[")[0] in change


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"[]",
        b'"text"',
        b"null",
        b"\x00\x01\x02",
        '{"amount": "\udcff"}'.encode("utf-8", "surrogatepass"),
    ],
)
async def test_a_body_that_is_not_an_object_is_a_400(sandbox: Sandbox, content: bytes) -> None:
    response = await sandbox.api.post(
        "/v1/payment_intents", content=content, headers={"Content-Type": "application/json"}
    )

    _assert_provider_error(response, 400)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/payment_intents/{id}/confirm", {"payment_method": "pm_card_visa\u0000"}),
        (
            "/v1/payment_intents/{id}/confirm",
            {"payment_method": "pm_card_visa", "return_url": "javascript:alert(1)"},
        ),
        ("/v1/payment_intents/{id}/confirm", {"payment_method": "card_visa"}),
        ("/v1/payment_intents/{id}/capture", {"amount_to_capture": 10**40}),
        ("/v1/payment_intents/{id}/cancel", {"cancellation_reason": 7}),
        ("/v1/refunds", {"payment_intent": "pi_\u0000", "amount": 1}),
        ("/v1/refunds", {"payment_intent": "{id}", "amount": 1.0}),
        (
            "/v1/payment_methods",
            {"card": {"number": 4242424242424242, "exp_month": 1, "exp_year": 2, "cvc": "1"}},
        ),
        (
            "/v1/payment_methods",
            {"card": {"number": "4242", "exp_month": 10**30, "exp_year": 2, "cvc": "1"}},
        ),
        ("/v1/_sandbox/faults", {"latency_ms": 10**30}),
    ],
)
async def test_every_post_validates_its_body(
    sandbox: Sandbox, path: str, body: dict[str, Any]
) -> None:
    intent = await sandbox.create_intent()
    url = path.replace("{id}", intent["id"])
    filled = {
        key: value.replace("{id}", intent["id"]) if isinstance(value, str) else value
        for key, value in body.items()
    }

    _assert_provider_error(await sandbox.api.post(url, json=filled), 400)


@pytest.mark.parametrize(
    "intent_id", ["pi_unknown", "pi_%00", "x" * 5_000, "%00", "pi_" + "g" * 24]
)
async def test_an_impossible_id_is_a_404(sandbox: Sandbox, intent_id: str) -> None:
    for response in (
        await sandbox.api.get(f"/v1/payment_intents/{intent_id}"),
        await sandbox.api.post(f"/v1/payment_intents/{intent_id}/cancel"),
        await sandbox.api.get(f"/v1/refunds/{intent_id}"),
        await sandbox.api.get(f"/v1/actions/{intent_id}"),
    ):
        assert response.status_code == 404
        assert "Traceback" not in response.text


async def test_queries_are_validated_too(sandbox: Sandbox) -> None:
    for params in ({"reference": "a\x00b"}, {"reference": "x" * 500}, {}):
        _assert_provider_error(await sandbox.api.get("/v1/payment_intents", params=params), 400)
    _assert_provider_error(await sandbox.api.get("/v1/ledger", params={"reference": "\x00"}), 400)


async def test_a_body_over_the_limit_is_a_413_declared_or_streamed(sandbox: Sandbox) -> None:
    huge = {"amount": 1, "currency": "EUR", "reference": "r", "metadata": {"k": "v" * 5_000}}

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1_000

    declared = await sandbox.api.post("/v1/payment_intents", json=huge)
    streamed = await sandbox.api.post(
        "/v1/payment_intents", content=stream(), headers={"Content-Type": "application/json"}
    )

    assert _assert_provider_error(declared, 413)["code"] == "request_too_large"
    assert _assert_provider_error(streamed, 413)["code"] == "request_too_large"


async def test_no_key_a_wrong_key_or_another_scheme_is_a_401(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as anonymous:
        for headers in (
            {},
            {"Authorization": "Bearer sk_sandbox_wrong"},
            {"Authorization": "Basic eDp5"},
        ):
            response = await anonymous.post("/v1/payment_intents", json=VALID, headers=headers)
            error = _assert_provider_error(response, 401)
            assert error["code"] in {"api_key_missing", "api_key_invalid"}
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_routes_and_methods_answer_in_the_providers_shape(sandbox: Sandbox) -> None:
    assert (
        _assert_provider_error(await sandbox.api.get("/v1/charges"), 404)["code"]
        == "resource_missing"
    )
    wrong_method = await sandbox.api.delete("/v1/payment_intents")
    assert _assert_provider_error(wrong_method, 405)["code"] == "method_not_allowed"


async def test_an_action_page_refuses_a_bad_outcome(sandbox: Sandbox) -> None:
    intent = await sandbox.create_intent()
    pending = (await sandbox.confirm(intent["id"], "pm_card_threeds")).json()
    url = pending["next_action"]["redirect_url"]

    as_json = await sandbox.api.post(url, json={"outcome": "maybe"})
    as_form = await sandbox.api.post(url, data={"outcome": "\x00"})

    assert _assert_provider_error(as_json, 400)["param"] == "outcome"
    assert as_form.status_code == 400
    assert as_form.headers["content-type"].startswith("text/html")
    assert (await sandbox.api.get(f"/v1/payment_intents/{intent['id']}")).json()[
        "status"
    ] == "requires_action"


async def test_every_answer_carries_the_platforms_headers(sandbox: Sandbox) -> None:
    response = await sandbox.api.get("/health/ready", headers={"X-Request-ID": "trace-42"})

    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
    assert response.headers["x-request-id"] == "trace-42"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert (await sandbox.api.get("/health/live")).status_code == 200
    metrics = await sandbox.api.get("/metrics")
    assert "mercato_http_requests_total" in metrics.text
