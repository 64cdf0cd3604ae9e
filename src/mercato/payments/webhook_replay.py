"""Deliveries sent again: a manual replay (an administrator's), and the sweep that re-defers
the attempts whose job was lost.

A replay is one attempt now, outside the retry schedule, for a delivery in any state (an
abandoned one once its endpoint is enabled again, a failed one, a delivered one the
merchant lost). It keeps the delivery's `webhook-id`.
"""

from __future__ import annotations

import datetime as dt
import uuid

import structlog

from mercato.payments.errors import WebhookDeliveryNotFound, WebhookEndpointNotEnabled
from mercato.payments.models import WebhookDelivery
from mercato.payments.webhook_repository import WebhookRepository
from mercato.payments.webhook_sending import delivery_job
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork

logger = structlog.get_logger(__name__)

# A pending delivery this late has lost its job (a worker that failed to write it back, a
# job that crashed for good): the sweep defers it again. Far beyond any worker's backlog
# under normal load, and a duplicate job is harmless (stale steps are skipped).
OVERDUE_AFTER = dt.timedelta(minutes=10)
SWEEP_LIMIT = 500


async def replay_delivery(*, delivery_id: uuid.UUID, uow: UnitOfWork) -> WebhookDelivery:
    """Defer one attempt of the delivery now (409 if its endpoint is disabled)."""
    async with uow:
        repository = WebhookRepository(uow.session)
        delivery = await repository.delivery(delivery_id)
        if delivery is None:
            raise WebhookDeliveryNotFound()
        endpoint = await repository.endpoint(delivery.endpoint_id)
        if endpoint is None:
            raise WebhookDeliveryNotFound()
        if not endpoint.enabled:
            raise WebhookEndpointNotEnabled(
                "Enable the endpoint again (PATCH enabled: true), then replay."
            )
        uow.defer(delivery_job(delivery.id, step=None))
        await uow.commit()
    logger.info("merchant_webhook_replay_requested", delivery_id=str(delivery_id))
    return delivery


async def sweep_overdue(*, uow: UnitOfWork) -> int:
    """Defer again the next attempt of deliveries long overdue; how many."""
    now = utc_now()
    async with uow:
        overdue = await WebhookRepository(uow.session).overdue_deliveries(
            before=now - OVERDUE_AFTER, limit=SWEEP_LIMIT
        )
        for delivery in overdue:
            delivery.next_attempt_at = now
            uow.defer(delivery_job(delivery.id, step=delivery.schedule_step + 1))
        await uow.commit()
    if overdue:
        logger.warning("merchant_webhooks_overdue_redeferred", deliveries=len(overdue))
    return len(overdue)
