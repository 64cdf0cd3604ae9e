"""Merchant webhook endpoints: register, change, delete, rotate the secret, disable.

Each use case is one unit of work. A URL is checked before anything is written: its shape
(`parse_target_url`: http/https, a host, no credentials) and where it resolves (the SSRF
guard that every delivery applies too: private, loopback and link-local addresses are
refused unless `PAYMENTS_WEBHOOK_ALLOWED_PRIVATE_TARGETS` permits them). Refusing at
registration what every delivery would refuse tells the merchant now, not after days of
failed deliveries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from starlette.responses import Response

from mercato.payments.errors import InvalidWebhookTarget, WebhookEndpointNotFound
from mercato.payments.events import WebhookEndpointDisabled
from mercato.payments.merchant_webhooks import (
    InvalidTarget,
    TargetPolicy,
    TargetRefused,
    TargetUnresolvable,
    new_endpoint_secret,
    resolve_target,
)
from mercato.payments.models import WebhookEndpoint
from mercato.payments.webhook_repository import WebhookRepository
from mercato.payments.webhook_schemas import EndpointIn, EndpointPatchIn
from mercato.payments.webhook_secrets import CURRENT, rotate, seal
from mercato.platform.clock import utc_now
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.idempotency import KeyClaim
from mercato.platform.ids import uuid7
from mercato.platform.security.fields import FieldKeyRing

logger = structlog.get_logger(__name__)

MANUALLY_DISABLED = "disabled_by_admin"
DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class TargetCheck:
    """How a URL is checked when it is registered: the SSRF allow-list, and whether a
    host that does not resolve (yet) and a plain-http URL (signed payloads readable on the
    way) are refused, which production does."""

    policy: TargetPolicy
    refuse_unresolvable: bool
    require_https: bool = False
    timeout_s: float = 5.0

    async def check(self, url: str) -> None:
        if self.require_https and not url.lower().startswith("https://"):
            raise _invalid("The URL must be https:// (payment events are not sent in clear).")
        try:
            async with asyncio.timeout(self.timeout_s):
                await resolve_target(url, policy=self.policy)
        except InvalidTarget as refusal:
            raise _invalid(f"The URL cannot be used: {refusal}.") from None
        except TargetRefused:
            raise _invalid(
                "The URL's host resolves to a private, loopback or link-local address;"
                " webhooks are not sent there unless the service's allow-list permits it."
            ) from None
        except (TargetUnresolvable, TimeoutError):
            if self.refuse_unresolvable:
                raise _invalid("The URL's host does not resolve.") from None


def _invalid(detail: str) -> InvalidWebhookTarget:
    return InvalidWebhookTarget(
        detail, errors=[{"in": "body", "pointer": "/url", "detail": detail, "code": "url"}]
    )


async def register_endpoint(
    endpoint_in: EndpointIn,
    *,
    uow: UnitOfWork,
    keys: FieldKeyRing,
    targets: TargetCheck,
    claim: KeyClaim | None,
    render: Callable[[WebhookEndpoint, str | None], Response],
) -> Response:
    """A new endpoint with a fresh secret. `render(endpoint, secret)` makes the answer; an
    Idempotency-Key stores `render(endpoint, None)`, claimed and completed in the
    endpoint's own transaction: a replay answers the endpoint without its secret, which is
    never stored in plain text anywhere."""
    await targets.check(endpoint_in.url)
    secret = new_endpoint_secret()
    endpoint_id, now = uuid7(), utc_now()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        url=endpoint_in.url,
        description=endpoint_in.description,
        event_types=list(endpoint_in.event_types),
        secret_encrypted=seal(secret, endpoint_id=endpoint_id, column=CURRENT, keys=keys),
        enabled=True,
        version=1,
        created_at=now,
        updated_at=now,
    )
    async with uow:
        if claim is not None and (replay := await claim.claim_in(uow.session)) is not None:
            return replay
        WebhookRepository(uow.session).add(endpoint)
        await uow.session.flush()
        if claim is not None:
            await claim.complete_in(uow.session, render(endpoint, None))
        await uow.commit()
    logger.info("merchant_webhook_endpoint_registered", endpoint_id=str(endpoint_id))
    return render(endpoint, secret)


async def update_endpoint(
    *,
    endpoint_id: uuid.UUID,
    changes: EndpointPatchIn,
    expected: ExpectedVersion,
    uow: UnitOfWork,
    targets: TargetCheck,
) -> WebhookEndpoint:
    """Change the URL, event types or description, enable or disable. Disabling parks the
    pending deliveries; enabling starts with the next event (parked ones wait for a
    replay)."""
    if changes.url is not None:
        await targets.check(changes.url)
    async with uow:
        endpoint = await _locked(uow, endpoint_id)
        expected.check(endpoint.version)
        if changes.url is not None:
            endpoint.url = changes.url
        if changes.event_types is not None:
            endpoint.event_types = list(changes.event_types)
        if "description" in changes.model_fields_set:
            endpoint.description = changes.description
        if changes.enabled is True and not endpoint.enabled:
            endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
        elif changes.enabled is False:
            await disable_endpoint(uow, endpoint, reason=MANUALLY_DISABLED)
        touch(endpoint)
        await uow.commit()
    return endpoint


async def delete_endpoint(*, endpoint_id: uuid.UUID, uow: UnitOfWork) -> None:
    """Soft delete: no more deliveries, pending ones parked; the log stays. Deleting an
    endpoint that was enabled announces it disabled (reason `deleted`), as every other way
    of stopping its deliveries does."""
    async with uow:
        endpoint = await _locked(uow, endpoint_id)
        await disable_endpoint(uow, endpoint, reason=DELETED)
        endpoint.deleted_at = utc_now()
        touch(endpoint)
        await uow.commit()


async def rotate_secret(
    *,
    endpoint_id: uuid.UUID,
    uow: UnitOfWork,
    keys: FieldKeyRing,
    grace: dt.timedelta,
    claim: KeyClaim | None,
    render: Callable[[WebhookEndpoint, str | None], Response],
) -> Response:
    """A new secret (in the answer only); the old one keeps signing alongside for `grace`.

    Why a key matters here: only one previous secret is kept, so a client retrying a
    rotation whose answer it lost would rotate twice and drop the secret its receiver still
    verifies with. With an Idempotency-Key the retry replays `render(endpoint, None)`
    (claimed and stored in the rotation's own transaction; the secret is never stored in
    plain text), and the receiver keeps working on the old secret until it rotates again."""
    async with uow:
        if claim is not None and (replay := await claim.claim_in(uow.session)) is not None:
            return replay
        endpoint = await _locked(uow, endpoint_id)
        secret = rotate(endpoint, keys=keys, now=utc_now(), grace=grace)
        touch(endpoint)
        await uow.session.flush()
        if claim is not None:
            await claim.complete_in(uow.session, render(endpoint, None))
        await uow.commit()
    logger.info("merchant_webhook_secret_rotated", endpoint_id=str(endpoint_id))
    return render(endpoint, secret)


async def disable_endpoint(uow: UnitOfWork, endpoint: WebhookEndpoint, *, reason: str) -> bool:
    """Disable a locked endpoint, park its pending deliveries (abandoned, replayable) and
    publish `WebhookEndpointDisabled` in the same transaction, whoever disables it (a 410,
    exhausted retries, an administrator's PATCH or DELETE): whoever watches endpoints
    learns of every one. False, and nothing published, if it was disabled already. The
    caller bumps the version (`touch`), once per change."""
    if not endpoint.enabled:
        return False
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason, utc_now()
    parked = await WebhookRepository(uow.session).park_pending(endpoint.id)
    uow.publish(
        WebhookEndpointDisabled(endpoint_id=endpoint.id, reason=reason), aggregate_id=endpoint.id
    )
    logger.warning(
        "merchant_webhook_endpoint_disabled",
        endpoint_id=str(endpoint.id),
        reason=reason,
        parked_deliveries=parked,
    )
    return True


async def _locked(uow: UnitOfWork, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await WebhookRepository(uow.session).endpoint_for_update(endpoint_id)
    if endpoint is None:
        raise WebhookEndpointNotFound()
    return endpoint


def touch(endpoint: WebhookEndpoint) -> None:
    """A new version of the endpoint (what If-Match compares)."""
    endpoint.version += 1
    endpoint.updated_at = utc_now()
