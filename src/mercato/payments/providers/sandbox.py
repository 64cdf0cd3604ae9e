"""The sandbox provider adapter: `PaymentProvider` over the sandbox's HTTP API.

A translator only (see `base.py`): one HTTP call per method, no retry, no sleep. What an
answer means for a retry is decided here once, from what certainly happened:

- connection refused, DNS, connect timeout, no pooled connection → `ProviderNotReached`
  (nothing was sent);
- read/write timeout, a connection reset after sending, any 5xx, and 409
  `idempotency_key_in_use` (the first request with this key is still running, and may
  well have charged) → `ProviderOutcomeUnknown`: retry with the same key, or reconcile;
- 429 → `ProviderBusy(retry_after_s)`; any other 4xx → `ProviderRejected`;
- a declined card is no error: the payment comes back `requires_payment_method` with
  `failure_code`.

Webhooks are verified over the raw bytes: `Sandbox-Signature: t=…,v1=…[,v1=…]`, each `v1`
an HMAC-SHA256 of `"<t>.<body>"`, compared in constant time against every configured
secret (rotation), with a timestamp tolerance both ways.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson
import structlog

from mercato.payments.providers.base import (
    CreatePayment,
    ProviderBusy,
    ProviderEvent,
    ProviderEventKind,
    ProviderNotReached,
    ProviderOutcomeUnknown,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    ProviderStatus,
    RefundStatus,
    WebhookRejected,
)
from mercato.platform.observability.context import current_correlation_id

SIGNATURE_HEADER = "Sandbox-Signature"
WEBHOOK_TOLERANCE_S = 300
_MAX_SIGNATURE_HEADER = 4_096
_MAX_SIGNATURES = 8
_MAX_MESSAGE = 200
_IN_FLIGHT = "idempotency_key_in_use"

_Json = dict[str, Any]
_Parsed = TypeVar("_Parsed")
_Field = TypeVar("_Field", str, int, dict[str, Any])


class _Malformed(ValueError):
    """An answer or event that does not have the contract's shape."""


class SandboxProvider:
    """The sandbox (`mercato sandbox serve`) as a payment provider."""

    name = "sandbox"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        webhook_secrets: Sequence[str],
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 10.0,
        pool_timeout_s: float = 2.0,
        max_connections: int = 50,
        webhook_tolerance_s: int = WEBHOOK_TOLERANCE_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not webhook_secrets:
            raise ValueError("the sandbox provider needs at least one webhook secret")
        self._secrets = tuple(secret.encode() for secret in webhook_secrets)
        self._tolerance_s = webhook_tolerance_s
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "mercato-payments"},
            timeout=httpx.Timeout(
                connect=connect_timeout_s,
                read=read_timeout_s,
                write=read_timeout_s,
                pool=pool_timeout_s,
            ),
            limits=httpx.Limits(max_connections=max_connections),
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:  # the client's headers hold the API key
        return f"SandboxProvider(base_url={str(self._client.base_url)!r})"

    async def create_payment(
        self, request: CreatePayment, *, idempotency_key: str
    ) -> ProviderPayment:
        body = {
            "amount": request.amount,
            "currency": request.currency,
            "reference": request.reference,
            "capture_method": request.capture_method.value,
            "metadata": dict(request.metadata),
        }
        return _answer(
            _payment, await self._call("POST", "/v1/payment_intents", body, idempotency_key)
        )

    async def confirm_payment(
        self,
        provider_id: str,
        *,
        payment_method: str,
        return_url: str | None,
        idempotency_key: str,
    ) -> ProviderPayment:
        body = {"payment_method": payment_method, "return_url": return_url}
        path = f"{_intent_path(provider_id)}/confirm"
        return _answer(_payment, await self._call("POST", path, body, idempotency_key))

    async def capture_payment(
        self, provider_id: str, *, amount: int, idempotency_key: str
    ) -> ProviderPayment:
        path = f"{_intent_path(provider_id)}/capture"
        body = {"amount_to_capture": amount}
        return _answer(_payment, await self._call("POST", path, body, idempotency_key))

    async def cancel_payment(self, provider_id: str, *, idempotency_key: str) -> ProviderPayment:
        path = f"{_intent_path(provider_id)}/cancel"
        return _answer(_payment, await self._call("POST", path, {}, idempotency_key))

    async def refund_payment(
        self, provider_id: str, *, amount: int, idempotency_key: str
    ) -> ProviderRefund:
        body = {"payment_intent": provider_id, "amount": amount}
        return _answer(_refund, await self._call("POST", "/v1/refunds", body, idempotency_key))

    async def retrieve_payment(self, provider_id: str) -> ProviderPayment:
        return _answer(_payment, await self._call("GET", _intent_path(provider_id)))

    async def find_payment(self, reference: str) -> ProviderPayment | None:
        """The newest payment the sandbox holds for `reference`, or None."""
        found = await self._call("GET", "/v1/payment_intents", params={"reference": reference})
        data = found.get("data")
        if not isinstance(data, list):
            raise ProviderOutcomeUnknown("the sandbox's list answer has no data")
        return _answer(_payment, data[0]) if data else None

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], *, now: int) -> ProviderEvent:
        timestamp, signatures = _signature_parts(_header(headers, SIGNATURE_HEADER))
        if abs(now - timestamp) > self._tolerance_s:
            raise WebhookRejected("the webhook's timestamp is outside the tolerance")
        signed = str(timestamp).encode() + b"." + body
        expected = [
            hmac.new(secret, signed, hashlib.sha256).hexdigest().encode()
            for secret in self._secrets
        ]
        # Every pair is compared, so the time taken says nothing about which one matched.
        matches = [hmac.compare_digest(want, given) for want in expected for given in signatures]
        if not any(matches):
            raise WebhookRejected("the webhook's signature does not verify")
        try:
            return _event(orjson.loads(body))
        except (orjson.JSONDecodeError, _Malformed):
            raise WebhookRejected("the webhook's body is not a sandbox event") from None

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        body: _Json | None = None,
        idempotency_key: str | None = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> _Json:
        headers: dict[str, str] = {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        correlation = _correlation_id()
        if correlation is not None:
            headers["X-Request-ID"] = correlation
        try:
            response = await self._client.request(
                method, path, json=body, params=params, headers=headers
            )
        except (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.PoolTimeout,
            httpx.UnsupportedProtocol,
        ) as error:
            raise ProviderNotReached(f"sandbox not reached ({type(error).__name__})") from None
        except httpx.TransportError as error:
            # Sent, or perhaps sent: timeouts, resets, a connection closed mid-answer.
            raise ProviderOutcomeUnknown(
                f"sandbox gave no answer ({type(error).__name__})"
            ) from None
        return _interpret(response)


def _intent_path(provider_id: str) -> str:
    # Quoted whole: an id can never climb out of its path segment ("../refunds").
    return f"/v1/payment_intents/{quote(provider_id, safe='')}"


def _correlation_id() -> str | None:
    bound = structlog.contextvars.get_contextvars().get("request_id")
    return current_correlation_id() or (bound if isinstance(bound, str) else None)


def _interpret(response: httpx.Response) -> _Json:
    status = response.status_code
    try:
        document = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        document = None
    if 200 <= status < 300:
        if not isinstance(document, dict):
            raise ProviderOutcomeUnknown(f"sandbox answered {status} with an unreadable body")
        return document
    error = document.get("error") if isinstance(document, dict) else None
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or error.get("type") or f"http_{status}")[:_MAX_MESSAGE]
    message = str(error.get("message") or response.reason_phrase)[:_MAX_MESSAGE]
    if status == 429:
        raise ProviderBusy(message, retry_after_s=_retry_after(response.headers.get("retry-after")))
    if status >= 500 or (status == 409 and code == _IN_FLIGHT) or status < 400:
        raise ProviderOutcomeUnknown(f"sandbox answered {status} {code}")
    declined = error.get("payment_intent")
    if status == 402 and isinstance(declined, dict):
        return declined  # a card error carrying the payment: a decline, not a failure
    raise ProviderRejected(code, message, status=status)


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: let the gateway's own backoff decide
    return seconds if seconds is not None and 0 <= seconds <= 3_600 else None


def _answer(parse: Callable[[Any], _Parsed], document: Any) -> _Parsed:
    """A 2xx the adapter cannot read may still have taken effect: outcome unknown."""
    try:
        return parse(document)
    except _Malformed as error:
        raise ProviderOutcomeUnknown(f"sandbox answer not understood: {error}") from None


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    raise WebhookRejected(f"the webhook has no {name} header")


def _signature_parts(header: str) -> tuple[int, list[bytes]]:
    """`t=<unix s>,v1=<hex>[,v1=<hex>…]` → (t, [signatures]); other schemes are ignored."""
    if len(header) > _MAX_SIGNATURE_HEADER:
        raise WebhookRejected("the webhook's signature header is too long")
    timestamps: list[str] = []
    signatures: list[bytes] = []
    for part in header.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == "t":
            timestamps.append(value)
        elif scheme == "v1" and value:
            signatures.append(value.encode("utf-8", "replace"))
    if len(timestamps) != 1 or not timestamps[0].isdigit() or len(timestamps[0]) > 12:
        raise WebhookRejected("the webhook's signature header has no valid timestamp")
    if not signatures or len(signatures) > _MAX_SIGNATURES:
        raise WebhookRejected("the webhook's signature header has no usable v1 signature")
    return int(timestamps[0]), signatures


def _field(document: Any, name: str, kind: type[_Field]) -> _Field:
    value = document.get(name) if isinstance(document, dict) else None
    # bool is an int to Python, never an amount to us.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Malformed(f"{name} is missing or not a {kind.__name__}")
    return value


def _optional_text(document: Any, name: str) -> str | None:
    value = document.get(name) if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def _payment(document: Any) -> ProviderPayment:
    try:
        status = ProviderStatus(_field(document, "status", str))
    except ValueError:
        raise _Malformed("status is not one the adapter knows") from None
    error = document.get("last_payment_error")
    action = document.get("next_action")
    return ProviderPayment(
        provider_id=_field(document, "id", str),
        status=status,
        amount=_field(document, "amount", int),
        currency=_field(document, "currency", str).upper(),
        amount_capturable=_field(document, "amount_capturable", int),
        amount_captured=_field(document, "amount_received", int),
        amount_refunded=_field(document, "amount_refunded", int),
        failure_code=_optional_text(error, "code"),
        failure_message=_optional_text(error, "message"),
        action_url=_optional_text(action, "redirect_url"),
    )


def _refund(document: Any) -> ProviderRefund:
    try:
        status = RefundStatus(_field(document, "status", str))
    except ValueError:
        raise _Malformed("status is not one the adapter knows") from None
    return ProviderRefund(
        provider_id=_field(document, "id", str),
        payment_provider_id=_field(document, "payment_intent", str),
        status=status,
        amount=_field(document, "amount", int),
        currency=_field(document, "currency", str).upper(),
        failure_code=_optional_text(document, "failure_code"),
    )


def _event(document: Any) -> ProviderEvent:
    event_type = _field(document, "type", str)
    data = _field(document, "data", dict)
    kind = ProviderEventKind.IGNORED
    payment: ProviderPayment | None = None
    refund: ProviderRefund | None = None
    if event_type.startswith("payment_intent."):
        kind, payment = ProviderEventKind.PAYMENT_UPDATED, _payment(data.get("object"))
    elif event_type.startswith("refund."):
        kind, refund = ProviderEventKind.REFUND_UPDATED, _refund(data.get("object"))
    return ProviderEvent(
        event_id=_field(document, "id", str),
        event_type=event_type,
        kind=kind,
        created=_field(document, "created", int),
        payment=payment,
        refund=refund,
    )
