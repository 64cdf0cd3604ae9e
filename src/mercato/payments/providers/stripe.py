"""The Stripe adapter: PaymentIntents and Refunds through the official SDK (`StripeClient`,
async methods over its httpx client), Stripe's errors translated into the protocol's.

Thin on purpose: the SDK's own retries are off (`max_network_retries=0`), because the
gateway owns retries, deadlines and the breaker; every mutating call sends the gateway's
idempotency key. How an error is read:

| Stripe says | we raise / return |
|---|---|
| 402 card error carrying the PaymentIntent | the intent (a decline is an answer) |
| 400/404 invalid request, idempotency error, 401, 403, other 4xx | `ProviderRejected` |
| 429 rate limit, 409 conflict (a request with the same key still running) | `ProviderBusy` |
| 5xx, or an answer we cannot read | `ProviderOutcomeUnknown` |
| connection error before the request went out (connect, TLS, pool) | `ProviderNotReached` |
| connection error once it may have gone out (read timeout, reset) | `ProviderOutcomeUnknown` |

Honest limits: "before it went out" rests on httpx's exception class (`ConnectError`,
`ConnectTimeout`, `PoolTimeout`), which the SDK keeps as `__cause__`; anything else is
treated as possibly sent. A 5xx is UNKNOWN even with `Stripe-Should-Retry: false` (Stripe
then replays the same error for the same key: the reconciler, not a retry, settles it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
import stripe
from stripe import RequestOptions
from stripe.params import PaymentIntentConfirmParams, PaymentIntentCreateParams

from mercato.payments.config import StripeSettings
from mercato.payments.providers.base import (
    CreatePayment,
    ProviderBusy,
    ProviderError,
    ProviderEvent,
    ProviderNotReached,
    ProviderOutcomeUnknown,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    WebhookRejected,
)
from mercato.payments.providers.scrubbing import scrub_provider_text
from mercato.payments.providers.stripe_objects import (
    REFERENCE_KEY,
    event_from,
    payment_from,
    refund_from,
    search_query,
)

T = TypeVar("T")
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class StripeHttpTransport(stripe.HTTPClient):
    """The SDK's HTTP, over an httpx client of ours (the SDK's documented extension point).

    The SDK's own `HTTPXClient` posts the form with httpx's deprecated `data=<str>` (an
    error under our warnings policy); here it is `content=`. httpx's exception is kept as
    `__cause__` of the SDK's `APIConnectionError`: it tells "not sent" from "maybe sent".
    """

    name = "httpx"

    def __init__(self, *, timeout: httpx.Timeout) -> None:
        super().__init__()
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._client.request(
                method, url, headers=dict(headers), content=post_data
            )
        except httpx.HTTPError as error:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"network error ({type(error).__name__})", should_retry=False
            ) from error
        return response.content, response.status_code, response.headers

    async def close_async(self) -> None:
        await self._client.aclose()

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)


class StripeProvider:
    """`PaymentProvider` for Stripe."""

    name = "stripe"

    def __init__(self, settings: StripeSettings) -> None:
        self._settings = settings
        # The SDK logs every request's form body and every answer's body (client secrets
        # included) at DEBUG, and Stripe's error messages at INFO: keep only its warnings.
        # (Its `STRIPE_LOG` variable prints the same to stderr: never set it in production.)
        logging.getLogger("stripe").setLevel(logging.WARNING)
        self._http = StripeHttpTransport(
            timeout=httpx.Timeout(
                settings.read_timeout_s,
                connect=settings.connect_timeout_s,
                pool=settings.connect_timeout_s,
            )
        )
        self._client = stripe.StripeClient(
            settings.api_key.get_secret_value(),
            base_addresses={"api": settings.api_base},
            stripe_version=settings.api_version,
            max_network_retries=0,
            http_client=self._http,
        )

    async def create_payment(
        self, request: CreatePayment, *, idempotency_key: str
    ) -> ProviderPayment:
        # No redirect-based methods (the protocol models cards): otherwise Stripe demands a
        # return_url on every confirm. Cards' 3-D Secure is unaffected.
        params: PaymentIntentCreateParams = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "capture_method": request.capture_method.value,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": {**request.metadata, REFERENCE_KEY: request.reference},
        }
        return await _payment_answer(
            self._client.v1.payment_intents.create_async(params, _keyed(idempotency_key))
        )

    async def confirm_payment(
        self,
        provider_id: str,
        *,
        payment_method: str,
        return_url: str | None,
        idempotency_key: str,
    ) -> ProviderPayment:
        """Without a `return_url`, a card that needs 3-D Secure comes back REQUIRES_ACTION
        with no `action_url` (Stripe then expects Stripe.js to handle it): pass one."""
        params: PaymentIntentConfirmParams = {"payment_method": payment_method}
        if return_url is not None:
            params["return_url"] = return_url
        return await _payment_answer(
            self._client.v1.payment_intents.confirm_async(
                provider_id, params, _keyed(idempotency_key)
            )
        )

    async def capture_payment(
        self, provider_id: str, *, amount: int, idempotency_key: str
    ) -> ProviderPayment:
        return await _payment_answer(
            self._client.v1.payment_intents.capture_async(
                provider_id, {"amount_to_capture": amount}, _keyed(idempotency_key)
            )
        )

    async def cancel_payment(self, provider_id: str, *, idempotency_key: str) -> ProviderPayment:
        return await _payment_answer(
            self._client.v1.payment_intents.cancel_async(provider_id, {}, _keyed(idempotency_key))
        )

    async def refund_payment(
        self, provider_id: str, *, amount: int, idempotency_key: str
    ) -> ProviderRefund:
        try:
            refund = await self._client.v1.refunds.create_async(
                {"payment_intent": provider_id, "amount": amount}, _keyed(idempotency_key)
            )
        except stripe.StripeError as error:
            raise translate_error(error) from None
        return _read_answer(refund_from, refund.to_dict())

    async def retrieve_payment(self, provider_id: str) -> ProviderPayment:
        # The latest charge, expanded, is where Stripe keeps the refunded amount.
        return await _payment_answer(
            self._client.v1.payment_intents.retrieve_async(
                provider_id, {"expand": ["latest_charge"]}
            )
        )

    async def find_payment(self, reference: str) -> ProviderPayment | None:
        """Stripe Search by our reference in metadata. Search lags writes (usually under a
        minute, more during incidents), so None right after a create is not proof that
        none exists: to settle a create whose answer was lost, repeat it with the same
        idempotency key (Stripe replays its answer for 24 h) before relying on this."""
        try:
            found = await self._client.v1.payment_intents.search_async(
                {"query": search_query(reference), "limit": 10}
            )
        except stripe.StripeError as error:
            raise translate_error(error) from None
        intents = [item.to_dict() for item in found.data]
        if not intents:
            return None
        latest = max(intents, key=lambda intent: int(intent.get("created") or 0))
        return _read_answer(payment_from, latest)

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], *, now: int) -> ProviderEvent:
        """Stripe's own signature check (`WebhookSignature.verify_header`, constant time)
        for each configured secret in turn (rotation), then our timestamp check against
        `now` in both directions (the SDK reads the wall clock and only refuses old ones)."""
        header = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
        if not header:
            raise WebhookRejected("missing Stripe-Signature header")
        signed_at = _signed_at(header)
        if signed_at is None:
            raise WebhookRejected("malformed Stripe-Signature header")
        if not any(_signed_with(body, header, secret) for secret in self._webhook_secrets()):
            raise WebhookRejected("no signature matches a configured secret")
        if abs(now - signed_at) > self._settings.webhook_tolerance_s:
            raise WebhookRejected("signature timestamp outside the tolerance")
        try:
            event = json.loads(body)
        except ValueError:
            raise WebhookRejected("the body is not JSON") from None
        if not isinstance(event, Mapping):
            raise WebhookRejected("the body is not a Stripe event")
        return event_from(event)

    async def aclose(self) -> None:
        await self._http.close_async()

    def _webhook_secrets(self) -> list[str]:
        return [secret.get_secret_value() for secret in self._settings.webhook_secrets]


def _keyed(idempotency_key: str) -> RequestOptions:
    return {"idempotency_key": idempotency_key}


async def _payment_answer(answer: Awaitable[stripe.PaymentIntent]) -> ProviderPayment:
    """Await one PaymentIntent call; a card error that carries the intent is its answer."""
    try:
        intent = await answer
    except stripe.CardError as error:
        declined = _mapping(_mapping(error.json_body).get("error")).get("payment_intent")
        if isinstance(declined, Mapping):
            return _read_answer(payment_from, declined)
        raise translate_error(error) from None
    except stripe.StripeError as error:
        raise translate_error(error) from None
    return _read_answer(payment_from, intent.to_dict())


def translate_error(error: stripe.StripeError) -> ProviderError:
    """A Stripe SDK error as the protocol's error (see the module's table). Messages are
    scrubbed of anything secret-looking; the SDK's error is not chained."""
    status = error.http_status
    detail = _mapping(_mapping(error.json_body).get("error"))
    code = str(detail.get("decline_code") or detail.get("code") or error.code or "stripe_error")
    message = scrub_provider_text(str(detail.get("message") or error.user_message or ""))
    if isinstance(error, stripe.APIConnectionError):
        if isinstance(error.__cause__, _NOT_SENT):
            return ProviderNotReached(f"stripe not reached ({type(error.__cause__).__name__})")
        cause = type(error.__cause__).__name__ if error.__cause__ else "connection error"
        return ProviderOutcomeUnknown(f"stripe connection lost ({cause})")
    if isinstance(error, stripe.RateLimitError) or status == 409:
        return ProviderBusy(f"stripe {status}: {code}", retry_after_s=_retry_after(error))
    if isinstance(error, stripe.SignatureVerificationError):
        return WebhookRejected("signature does not verify")
    if status is not None and 400 <= status < 500:
        return ProviderRejected(code, message, status=status)
    return ProviderOutcomeUnknown(f"stripe answered {status or 'unreadably'}: {code}")


def _read_answer(read: Callable[[Mapping[str, Any]], T], obj: Mapping[str, Any]) -> T:
    """Map an answer; an answer we cannot read is an unknown outcome, not a crash."""
    try:
        return read(obj)
    except (KeyError, TypeError, ValueError) as error:
        raise ProviderOutcomeUnknown(f"unreadable stripe answer ({type(error).__name__})") from None


def _retry_after(error: stripe.StripeError) -> float | None:
    headers = error.headers or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _signed_at(header: str) -> int | None:
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            return int(value) if value.isdigit() else None
    return None


def _signed_with(body: bytes, header: str, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=None)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        return False
    return True


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
