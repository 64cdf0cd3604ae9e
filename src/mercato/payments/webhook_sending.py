"""Sending one merchant webhook delivery: the delivery job's work, and its job request.

The job carries the delivery's id as its effect id, which is also the `webhook-id` header
of every attempt, so receivers deduplicate retries, replays and a job run twice after a
crash. One attempt is three steps, with no transaction open while the merchant answers:

1. read the delivery and its endpoint; skip a job that is stale (its step was attempted
   already, the delivery is settled, the endpoint disabled or deleted);
2. `deliver(...)`, signed with the endpoint's active secrets;
3. under the endpoint's then the delivery's row lock: write the attempt to the log, and
   act on the verdict: delivered; retry (the next job deferred for `next_attempt_at`, in
   the same transaction); or disable the endpoint (`WebhookEndpointDisabled` published,
   its pending deliveries parked).

Two jobs of one delivery never run at once: they share a procrastinate `lock` (replays
take priority over a scheduled retry still waiting for its time).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from mercato.payments.config import MerchantWebhookSettings
from mercato.payments.merchant_webhooks import (
    Delivered,
    DeliveryAttempt,
    DisableEndpoint,
    DisableReason,
    RetryAt,
    WebhookMessage,
    deliver,
)
from mercato.payments.merchant_webhooks import WebhookEndpoint as Target
from mercato.payments.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from mercato.payments.states import DeliveryStatus
from mercato.payments.webhook_endpoints import disable_endpoint, touch
from mercato.payments.webhook_metrics import WebhookMetrics
from mercato.payments.webhook_repository import WebhookRepository
from mercato.payments.webhook_secrets import signing_secrets
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.security.fields import FieldKeyRing

TASK = "deliver_merchant_webhook"
_QUEUE = "payments"
_REPLAY_PRIORITY = 1  # ahead of a scheduled retry of the same delivery (same lock)


def delivery_job(
    delivery_id: uuid.UUID, *, step: int | None, at: dt.datetime | None = None
) -> JobRequest:
    """Attempt `step` of the retry schedule of a delivery at `at` (now if None); `step`
    None is a replay, asked for by an administrator."""
    return JobRequest(
        task_name=f"payments:{TASK}",
        queue=_QUEUE,
        args={"step": step},
        lock=f"merchant-webhook-delivery:{delivery_id}",
        scheduled_at=at,
        priority=_REPLAY_PRIORITY if step is None else 0,
        effect_id=delivery_id,
    )


@dataclass(frozen=True, slots=True)
class Sender:
    """What sending needs from the service: its client, settings, secret keys, and the
    metrics every attempt is counted in."""

    client: httpx.AsyncClient
    settings: MerchantWebhookSettings
    keys: FieldKeyRing
    metrics: WebhookMetrics


@dataclass(frozen=True, slots=True)
class _Loaded:
    message: WebhookMessage
    target: Target


async def send_delivery(
    delivery_id: uuid.UUID,
    *,
    step: int | None,
    sender: Sender,
    new_uow: Callable[[], UnitOfWork],
) -> str:
    """Make one attempt of a delivery (see the module docstring); what happened, for the
    job's log: "delivered", "retry", "failed", "abandoned", "endpoint_disabled:<reason>",
    or "skipped:<why>"."""
    loaded = await _load(delivery_id, step=step, keys=sender.keys, uow=new_uow())
    if isinstance(loaded, str):
        return f"skipped:{loaded}"
    started = utc_now()
    attempt = await deliver(
        loaded.message,
        endpoint=loaded.target,
        # A replay is one attempt outside the schedule: never "the last one".
        attempt_number=step or 1,
        client=sender.client,
        settings=sender.settings,
        now=started,
        rng=random.Random(),  # noqa: S311 - jitter, not a secret
    )
    sender.metrics.attempted(attempt, replay=step is None)
    return await _record(delivery_id, step=step, attempt=attempt, started=started, uow=new_uow())


async def _load(
    delivery_id: uuid.UUID, *, step: int | None, keys: FieldKeyRing, uow: UnitOfWork
) -> _Loaded | str:
    async with uow:
        repository = WebhookRepository(uow.session)
        delivery = await repository.delivery(delivery_id)
        if delivery is None:
            return "missing"
        if step is not None and (
            delivery.status != DeliveryStatus.PENDING or delivery.schedule_step != step - 1
        ):
            return "stale"
        endpoint = await repository.endpoint(delivery.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            return "endpoint_disabled"
        secrets = signing_secrets(endpoint, keys=keys, now=utc_now())
        return _Loaded(
            message=WebhookMessage(
                id=str(delivery.id),
                event_type=delivery.event_type,
                body=orjson.dumps(delivery.payload),
            ),
            target=Target(id=str(endpoint.id), url=endpoint.url, signing_secrets=secrets),
        )


async def _record(
    delivery_id: uuid.UUID,
    *,
    step: int | None,
    attempt: DeliveryAttempt,
    started: dt.datetime,
    uow: UnitOfWork,
) -> str:
    async with uow:
        repository = WebhookRepository(uow.session)
        found = await repository.delivery(delivery_id)
        assert found is not None  # deliveries are never deleted
        endpoint = await repository.endpoint_for_update(found.endpoint_id, deleted_too=True)
        delivery = await repository.delivery_for_update(delivery_id)
        assert endpoint is not None
        assert delivery is not None
        was_pending = delivery.status == DeliveryStatus.PENDING
        delivery.attempts += 1
        repository.add(_log_entry(delivery, attempt, step=step, started=started))
        delivery.last_status_code = attempt.status_code
        delivery.last_error = attempt.error
        if step is not None:
            delivery.schedule_step = step
        outcome = await _apply(
            attempt.verdict, uow=uow, delivery=delivery, endpoint=endpoint, step=step
        )
        if outcome == "failed" and was_pending:
            outcome = "retry"  # a failed replay of a pending delivery: its schedule goes on
        elif outcome == "failed" and delivery.status != DeliveryStatus.DELIVERED:
            delivery.status = DeliveryStatus.FAILED.value
        await uow.commit()
    return outcome


async def _apply(
    verdict: Delivered | RetryAt | DisableEndpoint,
    *,
    uow: UnitOfWork,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    step: int | None,
) -> str:
    """Act on the verdict (the rows are locked)."""
    match verdict:
        case Delivered():
            delivery.status = DeliveryStatus.DELIVERED.value
            delivery.delivered_at, delivery.next_attempt_at = utc_now(), None
            return "delivered"
        case DisableEndpoint(reason=reason) if step is not None or reason != (
            DisableReason.RETRIES_EXHAUSTED
        ):
            if delivery.status != DeliveryStatus.DELIVERED:  # a replay keeps its success
                exhausted = reason == DisableReason.RETRIES_EXHAUSTED
                status = DeliveryStatus.FAILED if exhausted else DeliveryStatus.ABANDONED
                delivery.status, delivery.next_attempt_at = status.value, None
            if await disable_endpoint(uow, endpoint, reason=reason.value):
                touch(endpoint)
            return f"endpoint_disabled:{reason.value}"
        case RetryAt(at=at, attempt_number=number) if step is not None:
            if not endpoint.enabled or endpoint.deleted_at is not None:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.ABANDONED.value, None
                return "abandoned"
            delivery.next_attempt_at = at
            uow.defer(delivery_job(delivery.id, step=number, at=at))
            return "retry"
        case _:
            return "failed"


def _log_entry(
    delivery: WebhookDelivery, attempt: DeliveryAttempt, *, step: int | None, started: dt.datetime
) -> WebhookAttempt:
    excerpt = attempt.response_excerpt.decode("utf-8", "replace").replace("\x00", "\ufffd")
    return WebhookAttempt(
        delivery_id=delivery.id,
        number=delivery.attempts,
        trigger="replay" if step is None else "scheduled",
        started_at=started,
        duration_ms=attempt.duration_ms,
        status_code=attempt.status_code,
        error=attempt.error,
        response_excerpt=excerpt or None,
    )
