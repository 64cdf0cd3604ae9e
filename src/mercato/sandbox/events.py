"""Webhook events, written in the transaction of the change they announce (an outbox).

A change that rolls back sends nothing; a committed change is delivered even if the process
dies right after (the dispatcher, `deliveries.py`, picks the row up). The payload bytes are
fixed here, so every retry of a delivery signs and sends exactly the same body.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import func, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.sandbox.faults import Faults
from mercato.sandbox.resources import new_id
from mercato.sandbox.schema import webhook_delivery

WEBHOOK_CHANNEL = "sandbox_webhooks"

# The event announcing that a payment intent reached a status.
_EVENT_FOR_STATUS = {
    "succeeded": "payment_intent.succeeded",
    "requires_capture": "payment_intent.amount_capturable_updated",
    "requires_action": "payment_intent.requires_action",
    "processing": "payment_intent.processing",
    "canceled": "payment_intent.canceled",
    # Back to requires_payment_method only after a failed attempt.
    "requires_payment_method": "payment_intent.payment_failed",
}


def payment_event_type(status: str) -> str:
    return _EVENT_FOR_STATUS[status]


class EventLog:
    """Writes events for delivery, applying the duplicate and out-of-order knobs."""

    def __init__(self, faults: Faults, *, enabled: bool) -> None:
        self._faults = faults
        self._enabled = enabled  # no webhook URL configured: nothing to deliver to

    async def emit(
        self, connection: AsyncConnection, *, event_type: str, data_object: Mapping[str, Any]
    ) -> None:
        if not self._enabled:
            return
        event_id = new_id("evt")
        payload = orjson.dumps(
            {
                "id": event_id,
                "object": "event",
                "type": event_type,
                "created": int(time.time()),
                "data": {"object": data_object},
            }
        )
        rows = [
            {
                "event_id": event_id,
                "event_type": event_type,
                "payload": payload,
                "next_attempt_at": func.now()
                + dt.timedelta(seconds=self._faults.first_delivery_delay_s()),
            }
            for _ in range(self._faults.delivery_copies())
        ]
        for row in rows:
            await connection.execute(insert(webhook_delivery).values(**row))
        # Delivered at commit: wakes the dispatchers of every sandbox process at once.
        await connection.execute(text(f"NOTIFY {WEBHOOK_CHANNEL}"))
