"""The payments client against a scripted HTTP server on 127.0.0.1: what it retries (not
answered, 5xx, 429, a key still in flight) and what it never retries (any other 4xx), the
same idempotency key on every try, and the breaker that stops calling a dead service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mercato.orders.config import OrdersSettings
from mercato.orders.errors import PaymentsUnavailable
from mercato.orders.payments_client import PaymentsClient, PaymentsRefused
from tests.support.servers import serve_app

INTENT = {
    "id": "0193a7c4-9a11-7000-8000-00000000beef",
    "status": "requires_payment_method",
    "amount": 1800,
    "currency": "EUR",
    "amount_received": 0,
    "amount_refunded": 0,
}


@dataclass
class Script:
    """The answers to give, in order (the last one repeats), and what was asked."""

    answers: list[tuple[int, dict[str, object]]] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)

    async def intents(self, request: Request) -> Response:
        self.keys.append(request.headers.get("idempotency-key"))
        assert request.headers["authorization"] == "Bearer service-token"
        status, body = self.answers[min(len(self.keys), len(self.answers)) - 1]
        return JSONResponse(body, status_code=status)


class FixedTokens:
    def issue(self, *, service: str, audience: str, scopes: tuple[str, ...]) -> str:
        assert (service, audience) == ("orders", "payments")
        return "service-token"


@pytest.fixture
async def script() -> AsyncIterator[tuple[Script, str]]:
    scripted = Script()
    app = Starlette(routes=[Route("/api/v1/payment_intents", scripted.intents, methods=["POST"])])
    async with serve_app(app) as url:
        yield scripted, url


def client(url: str, **settings: object) -> PaymentsClient:
    own = OrdersSettings(
        payments_url=url,
        payments_max_tries=4,
        payments_backoff_initial_s=0.01,
        payments_backoff_max_s=0.02,
        **settings,  # type: ignore[arg-type]
    )
    return PaymentsClient(own, tokens=FixedTokens)


async def _create(payments: PaymentsClient, order_id: uuid.UUID) -> object:
    return await payments.create_intent(
        order_id=order_id, amount=1800, currency="EUR", customer_id=uuid.uuid4()
    )


async def test_5xx_429_and_a_key_in_flight_are_retried_with_the_same_key(
    script: tuple[Script, str],
) -> None:
    scripted, url = script
    in_flight: dict[str, object] = {"type": "/problems/idempotency-key-in-flight"}
    scripted.answers = [(503, {}), (429, {}), (409, in_flight), (201, INTENT)]
    payments, order_id = client(url), uuid.uuid4()
    try:
        intent = await _create(payments, order_id)
    finally:
        await payments.close()
    assert getattr(intent, "amount") == 1800  # noqa: B009
    assert scripted.keys == [str(order_id)] * 4


async def test_a_refusal_is_never_retried(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.answers = [(422, {"type": "/problems/invalid"})]
    payments = client(url)
    try:
        with pytest.raises(PaymentsRefused) as refused:
            await _create(payments, uuid.uuid4())
    finally:
        await payments.close()
    assert (refused.value.status, refused.value.problem_type) == (422, "/problems/invalid")
    assert len(scripted.keys) == 1


async def test_the_breaker_opens_after_consecutive_failures_and_then_sends_nothing(
    script: tuple[Script, str],
) -> None:
    scripted, url = script
    scripted.answers = [(500, {})]
    payments = client(url, payments_breaker_failures=4, payments_breaker_reset_s=60)
    try:
        with pytest.raises(PaymentsUnavailable):
            await _create(payments, uuid.uuid4())  # 4 tries, 4 failures: open
        assert payments.breaker.is_open
        with pytest.raises(PaymentsUnavailable):
            await _create(payments, uuid.uuid4())
    finally:
        await payments.close()
    assert len(scripted.keys) == 4  # the second call never left
