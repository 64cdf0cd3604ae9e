"""Fan-out: each event the payments service publishes becomes one delivery per enabled
endpoint subscribed to its type (the consumer group `merchant-webhooks`).

The handler runs in the consumer's unit of work, whose inbox row makes a redelivered event
a no-op; the unique (endpoint, event) index is the last guard. The deliveries and their
first jobs are written in that same transaction. A delivery's id is a fresh effect id: the
`webhook-id` of all its attempts.
"""

from __future__ import annotations

from typing import Any

from mercato.payments.events import CONTRACTS
from mercato.payments.webhook_repository import WebhookRepository
from mercato.payments.webhook_sending import delivery_job
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.events.consumers import ConsumerRegistry, HandlerContext
from mercato.platform.events.contracts import Envelope, EventPayload
from mercato.platform.jobs.effects import new_effect_id
from mercato.platform.runtime import Runtime

GROUP = "merchant-webhooks"


def registry(runtime: Runtime) -> ConsumerRegistry:
    """The group: every contract of the service, one handler."""
    consumers = ConsumerRegistry()
    for contract in CONTRACTS:
        consumers.consumer(contract, group=GROUP)(_fan_out)
    return consumers


async def _fan_out(event: EventPayload, context: HandlerContext) -> None:
    await fan_out(context.envelope, uow=context.uow)


def webhook_payload(envelope: Envelope) -> dict[str, Any]:
    """What the merchant receives: the event's id, type, time and data."""
    return {
        "id": str(envelope.id),
        "type": envelope.name,
        "created": envelope.occurred_at.isoformat(),
        "data": envelope.payload,
    }


async def fan_out(envelope: Envelope, *, uow: UnitOfWork) -> int:
    """Insert the event's deliveries and defer their first attempts, in `uow` (not
    committed here); how many were new."""
    repository = WebhookRepository(uow.session)
    endpoints = await repository.subscribed_endpoints(envelope.name)
    if not endpoints:
        return 0
    payload, now = webhook_payload(envelope), utc_now()
    created = await repository.add_deliveries(
        [
            {
                "id": new_effect_id(),
                "endpoint_id": endpoint_id,
                "event_id": envelope.id,
                "event_type": envelope.name,
                "payload": payload,
                "next_attempt_at": now,
                "created_at": now,
            }
            for endpoint_id in endpoints
        ]
    )
    for delivery_id in created:
        uow.defer(delivery_job(delivery_id, step=1))
    return len(created)
