"""One delivery attempt of one merchant webhook, and its verdict.

A job loads the endpoint and the message rows, calls `deliver`, stores the returned
`DeliveryAttempt` in the delivery log and acts on its verdict (mark delivered, schedule
`RetryAt`, or disable the endpoint and raise `endpoint.disabled`). Nothing here touches
the database, so the same function serves the first attempt, retries and manual replays.

Only a 2xx is success. No redirect is followed (a 3xx is a failure: following it would
skip the SSRF guard). The whole attempt (DNS, connect, send, the status line, the
excerpt) is bounded by `MerchantWebhookSettings.timeout_s`; of the response body only the
first `response_excerpt_bytes` are read, raw (never decompressed), for the delivery log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import structlog

from mercato.payments.config import MerchantWebhookSettings
from mercato.payments.merchant_webhooks.schedule import (
    Delivered,
    DeliveryVerdict,
    DisableEndpoint,
    DisableReason,
    parse_retry_after,
    verdict_after_failure,
)
from mercato.payments.merchant_webhooks.signing import signature_headers
from mercato.payments.merchant_webhooks.targets import (
    InvalidTarget,
    TargetError,
    TargetPolicy,
    resolve_target,
)

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """A merchant's receiver, as the job loaded it."""

    id: str
    url: str = field(repr=False)  # may carry a merchant's token in its query
    # Active signing secrets, current first (two during a rotation).
    signing_secrets: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class WebhookMessage:
    """One event for one endpoint: `id` is the `webhook-id`, the same on every attempt."""

    id: str
    event_type: str
    body: bytes = field(repr=False)  # the JSON payload, sent and signed byte for byte


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """What one attempt did, for the delivery log, and what to do next."""

    attempt_number: int
    verdict: DeliveryVerdict
    status_code: int | None = None
    response_excerpt: bytes = b""
    error: str | None = None  # "timeout", "connect_error", "target_refused", ...
    duration_ms: int = 0
    address: str | None = None  # the checked address the attempt connected to


def new_delivery_client(
    settings: MerchantWebhookSettings, *, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncClient:
    """The client deliveries share: no redirects, no proxy from the environment (a proxy
    would connect by name and undo the pinning), and no kept-alive connection (connections
    are opened to a checked IP: one to `a.example` must not be reused for `b.example`)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout_s),
        follow_redirects=False,
        trust_env=False,
        verify=verify,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def deliver(
    message: WebhookMessage,
    *,
    endpoint: WebhookEndpoint,
    attempt_number: int,
    client: httpx.AsyncClient,
    settings: MerchantWebhookSettings,
    now: datetime,
    rng: random.Random,
) -> DeliveryAttempt:
    """Send attempt `attempt_number` (1-based) of `message` to `endpoint`."""
    started = time.monotonic()
    policy = TargetPolicy.from_entries(settings.allowed_private_targets)
    attempt = await _attempt(
        message,
        endpoint=endpoint,
        attempt_number=attempt_number,
        client=client,
        settings=settings,
        policy=policy,
        now=now,
        rng=rng,
    )
    duration_ms = round((time.monotonic() - started) * 1000)
    attempt = dataclasses.replace(attempt, duration_ms=duration_ms)
    logger.info(
        "merchant_webhook_attempt",
        endpoint_id=endpoint.id,
        message_id=message.id,
        event_type=message.event_type,
        attempt=attempt_number,
        status=attempt.status_code,
        error=attempt.error,
        verdict=type(attempt.verdict).__name__,
        duration_ms=duration_ms,
    )
    return attempt


async def _attempt(
    message: WebhookMessage,
    *,
    endpoint: WebhookEndpoint,
    attempt_number: int,
    client: httpx.AsyncClient,
    settings: MerchantWebhookSettings,
    policy: TargetPolicy,
    now: datetime,
    rng: random.Random,
) -> DeliveryAttempt:
    def failed(error: str, *, address: str | None = None) -> DeliveryAttempt:
        verdict = verdict_after_failure(
            attempt_number, retry_after=None, now=now, rng=rng, scale=settings.retry_scale
        )
        return DeliveryAttempt(attempt_number, verdict, error=error, address=address)

    deadline = asyncio.get_running_loop().time() + settings.timeout_s
    try:
        async with asyncio.timeout_at(deadline):
            target = await resolve_target(endpoint.url, policy=policy)
    except InvalidTarget:
        return DeliveryAttempt(attempt_number, DisableEndpoint(DisableReason.INVALID_TARGET))
    except TargetError as refusal:
        return failed(_error_name(refusal))
    except TimeoutError:
        return failed("timeout")

    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "User-Agent": settings.user_agent,
        **signature_headers(
            message_id=message.id,
            body=message.body,
            signing_secrets=endpoint.signing_secrets,
            at=now,
        ),
    }
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    request = client.build_request(
        "POST", target.connect_url, headers=headers, content=message.body, extensions=extensions
    )
    address = str(target.address)
    try:
        async with asyncio.timeout_at(deadline):
            response = await client.send(request, stream=True)
    except (TimeoutError, httpx.TimeoutException):
        return failed("timeout", address=address)
    except httpx.HTTPError as error:
        return failed(_error_name(error), address=address)
    try:
        excerpt = await _read_excerpt(
            response, limit=settings.response_excerpt_bytes, deadline=deadline
        )
    finally:
        await response.aclose()

    status = response.status_code
    verdict: DeliveryVerdict
    if 200 <= status < 300:
        verdict = Delivered(status)
    elif status == 410:
        verdict = DisableEndpoint(DisableReason.GONE)
    else:
        retry_after = parse_retry_after(
            response.headers.get("retry-after"),
            now=now,
            cap=timedelta(seconds=settings.retry_after_cap_s),
        )
        verdict = verdict_after_failure(
            attempt_number,
            retry_after=retry_after,
            now=now,
            rng=rng,
            scale=settings.retry_scale,
        )
    failure = None if isinstance(verdict, Delivered) else f"http_{status}"
    return DeliveryAttempt(attempt_number, verdict, status, excerpt, error=failure, address=address)


async def _read_excerpt(response: httpx.Response, *, limit: int, deadline: float) -> bytes:
    """Up to `limit` raw bytes of the body, before the attempt's deadline (a body still
    arriving then is cut: the status line already decided the verdict)."""
    excerpt = bytearray()
    if limit == 0:
        return b""
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in response.aiter_raw():
                excerpt += chunk[: limit - len(excerpt)]
                if len(excerpt) >= limit:
                    break
    except (TimeoutError, httpx.HTTPError):
        pass  # the status is what counts; keep what arrived
    return bytes(excerpt)


def _error_name(error: Exception) -> str:
    """snake_case of the exception class: "ConnectError" → "connect_error"."""
    name = type(error).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
