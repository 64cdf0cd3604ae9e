"""The payments service, seen from orders: its HTTP API and nothing else.

Every call carries a service token (`sub=service:orders`, `aud=payments`, a minute long,
signed by the API's keys), a connect and a read timeout, and is retried with capped
exponential backoff and equal jitter, only when that is safe: not reached, timed out, 429,
5xx, or "the same key is still in flight" — every mutating call carries an idempotency key
derived from our own ids (the order id for its intent), so a retry can never act twice.
A 4xx answer is the service's word and is never retried. One circuit breaker (the
platform's) skips the service while it is down: callers get `PaymentsUnavailable` at once,
and the saga retries later from a job.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import stamina
import structlog

from mercato.orders.config import OrdersSettings
from mercato.orders.errors import PaymentsUnavailable
from mercato.platform.auth import ServiceTokens
from mercato.platform.breaker import CircuitBreaker, CircuitOpen

logger = structlog.get_logger(__name__)

SERVICE = "orders"
AUDIENCE = "payments"
SCOPES = ("payments:write", "payments:read")
IDEMPOTENCY_HEADER = "Idempotency-Key"
_IN_FLIGHT = "idempotency-key-in-flight"


class PaymentsRefused(Exception):
    """The payments service answered with a 4xx: its decision, not a failure to retry."""

    def __init__(self, status: int, problem_type: str) -> None:
        super().__init__(f"payments answered {status} {problem_type}")
        self.status = status
        self.problem_type = problem_type


class _Retryable(Exception):
    """Not reached, timed out, throttled, a 5xx, or a key still in flight: safe to retry."""


@dataclass(frozen=True, slots=True)
class IntentView:
    """What orders needs of a payment intent."""

    id: uuid.UUID
    status: str
    amount: int
    currency: str
    amount_received: int
    amount_refunded: int
    next_action_url: str | None

    @classmethod
    def of(cls, body: dict[str, Any]) -> IntentView:
        next_action = body.get("next_action") or {}
        return cls(
            id=uuid.UUID(str(body["id"])),
            status=str(body["status"]),
            amount=int(body["amount"]),
            currency=str(body["currency"]),
            amount_received=int(body.get("amount_received", 0)),
            amount_refunded=int(body.get("amount_refunded", 0)),
            next_action_url=next_action.get("redirect_url"),
        )


class PaymentsClient:
    def __init__(
        self,
        settings: OrdersSettings,
        *,
        tokens: Callable[[], ServiceTokens],
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._http = http or httpx.AsyncClient(
            base_url=settings.payments_url,
            timeout=httpx.Timeout(
                settings.payments_read_timeout_s, connect=settings.payments_connect_timeout_s
            ),
            follow_redirects=False,
        )
        self.breaker = CircuitBreaker(
            "payments",
            probe=self._probe,
            failure_threshold=settings.payments_breaker_failures,
            reset_after_s=settings.payments_breaker_reset_s,
            probe_timeout_s=settings.payments_connect_timeout_s,
        )

    async def close(self) -> None:
        await self.breaker.close()
        await self._http.aclose()

    # --- the calls ---------------------------------------------------------------------

    async def create_intent(
        self, *, order_id: uuid.UUID, amount: int, currency: str, customer_id: uuid.UUID
    ) -> IntentView:
        """The order's intent; the order id is the idempotency key, so a retry (or the
        saga's job after a crash) gets the very same intent."""
        body = {
            "amount": amount,
            "currency": currency,
            "order_reference": str(order_id),
            "customer_id": str(customer_id),
            "description": f"Mercato order {order_id}",
        }
        answer = await self._send(
            "POST", "/api/v1/payment_intents", json=body, key=str(order_id), operation="create"
        )
        return IntentView.of(answer)

    async def intent(self, intent_id: uuid.UUID) -> IntentView:
        answer = await self._send("GET", f"/api/v1/payment_intents/{intent_id}", operation="read")
        return IntentView.of(answer)

    async def cancel_intent(self, intent_id: uuid.UUID, *, reason: str) -> IntentView:
        """Idempotent at the service: canceling a canceled intent answers it as it is."""
        answer = await self._send(
            "POST",
            f"/api/v1/payment_intents/{intent_id}/cancel",
            json={"reason": reason},
            operation="cancel",
        )
        return IntentView.of(answer)

    async def refund(
        self, intent_id: uuid.UUID, *, amount: int | None, key: str, reason: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"amount": amount, "reason": reason}
        return await self._send(
            "POST",
            f"/api/v1/payment_intents/{intent_id}/refunds",
            json={name: value for name, value in body.items() if value is not None},
            key=key,
            operation="refund",
        )

    # --- one call, tried until it is answered or it is not safe to go on -----------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        json: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        tries = 0

        def retry_wait(error: Exception) -> bool | float:
            """stamina's hook: False (give up) or the seconds to wait first."""
            if not isinstance(error, _Retryable):
                return False
            return self._backoff(tries)

        try:
            async for attempt in stamina.retry_context(
                on=retry_wait, attempts=self._settings.payments_max_tries, timeout=None
            ):
                with attempt:
                    tries += 1
                    return await self._try_once(method, path, json=json, key=key)
        except (_Retryable, CircuitOpen) as error:
            logger.warning(
                "payments_unavailable", operation=operation, tries=tries, reason=str(error)
            )
            raise PaymentsUnavailable(
                "The payments service cannot be reached; the order waits for it."
            ) from None
        raise AssertionError("stamina ends with the answer or the last error")  # pragma: no cover

    async def _try_once(
        self, method: str, path: str, *, json: dict[str, Any] | None, key: str | None
    ) -> dict[str, Any]:
        self.breaker.check()
        headers = {"Authorization": f"Bearer {self._token()}"}
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        try:
            response = await self._http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as error:  # not reached, or no answer in time
            self.breaker.record_failure()
            raise _Retryable(type(error).__name__) from None
        if response.status_code >= 500 or response.status_code == 429:
            self.breaker.record_failure()
            raise _Retryable(f"status {response.status_code}")
        self.breaker.record_success()
        if response.status_code >= 400:
            problem_type = _problem_type(response)
            if response.status_code == 409 and problem_type.endswith(_IN_FLIGHT):
                raise _Retryable("idempotency key in flight")
            raise PaymentsRefused(response.status_code, problem_type)
        answer: dict[str, Any] = response.json()
        return answer

    def _backoff(self, tries: int) -> float:
        """Equal jitter: half the capped exponential step, plus up to the other half at
        random, so that callers that failed together do not retry together."""
        initial = self._settings.payments_backoff_initial_s
        step = min(self._settings.payments_backoff_max_s, initial * (1 << max(tries - 1, 0)))
        return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not a secret

    def _token(self) -> str:
        return self._tokens().issue(service=SERVICE, audience=AUDIENCE, scopes=SCOPES)

    async def _probe(self) -> None:
        response = await self._http.get("/health/live")
        response.raise_for_status()


def _problem_type(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "about:blank"
    return str(body.get("type", "about:blank")) if isinstance(body, dict) else "about:blank"
