"""Webhook deliveries: claimed, signed, sent, and retried with backoff until a 2xx.

Claiming takes due rows `FOR UPDATE SKIP LOCKED` and pushes their `next_attempt_at` past
the send (a lease) in one short transaction; the HTTP call then runs with no transaction
open. Two sandbox processes therefore never send the same row at once, and a process that
dies mid-send leaves a row that is simply retried when its lease runs out.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import structlog
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from mercato.sandbox.config import SandboxSettings
from mercato.sandbox.faults import Faults
from mercato.sandbox.schema import webhook_delivery
from mercato.sandbox.signing import SIGNATURE_HEADER, signature_header

DELIVERY_RETENTION = dt.timedelta(days=7)
JITTER = 0.2  # ±20 % on every retry delay, so failed receivers are not hit in lockstep
BATCH_SIZE = 50
USER_AGENT = "mercato-sandbox/1"

logger = structlog.get_logger(__name__)


def retry_delay_s(attempt: int, *, base_s: float, cap_s: float, jitter: float = 1.0) -> float:
    """Seconds before retrying after failed attempt number `attempt` (1, 2, …):
    base · 2^(attempt-1), capped, times a jitter factor."""
    exponent = min(max(attempt - 1, 0), 62)  # 2^62 s is already far past any cap
    return min(cap_s, base_s * 2.0**exponent) * jitter


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    event_id: str
    event_type: str
    payload: bytes
    attempts: int  # attempts made before this one


class WebhookDispatcher:
    """Sends what is due to the configured URL, signed with every active secret."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        settings: SandboxSettings,
        faults: Faults,
        client: httpx.AsyncClient,
    ) -> None:
        self._engine = engine
        self._url = settings.webhook_url
        self._secrets = settings.webhook_secret_values()
        self._settings = settings
        self._faults = faults
        self._client = client
        # The lease outlasts one send, so nobody else takes the row meanwhile.
        self._lease = dt.timedelta(seconds=settings.webhook_timeout_s + 30)

    async def deliver_due(self) -> int:
        """Attempt every due delivery once, oldest first; how many were attempted."""
        if self._url is None or self._faults.knobs.webhooks_paused:
            return 0
        batch = await self._claim()
        for delivery in batch:
            await self._attempt(self._url, delivery)
        return len(batch)

    async def _claim(self) -> Sequence[Delivery]:
        table = webhook_delivery
        due = (
            select(table.c.id, table.c.next_attempt_at.label("due_at"))
            .where(
                table.c.delivered_at.is_(None),
                table.c.failed_at.is_(None),
                table.c.next_attempt_at <= func.now(),
            )
            .order_by(table.c.next_attempt_at, table.c.id)
            .limit(BATCH_SIZE)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        async with self._engine.begin() as connection:
            rows = list(
                await connection.execute(
                    update(table)
                    .where(table.c.id == due.c.id)
                    .values(next_attempt_at=func.now() + self._lease)
                    .returning(
                        table.c.id,
                        table.c.event_id,
                        table.c.event_type,
                        table.c.payload,
                        table.c.attempts,
                        due.c.due_at,
                    )
                )
            )
        rows.sort(key=lambda row: (row.due_at, row.id))
        return [
            Delivery(
                id=row.id,
                event_id=row.event_id,
                event_type=row.event_type,
                payload=row.payload,
                attempts=row.attempts,
            )
            for row in rows
        ]

    async def _attempt(self, url: str, delivery: Delivery) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(
                delivery.payload, secrets=self._secrets, timestamp=int(time.time())
            ),
        }
        status: int | None = None
        error: str | None = None
        try:
            # Streamed and never read: a receiver's answer body is no business of ours.
            async with self._client.stream(
                "POST", url, content=delivery.payload, headers=headers
            ) as response:
                status = response.status_code
        except httpx.HTTPError as failure:
            error = type(failure).__name__
        await self._record(delivery, status=status, error=error)

    async def _record(self, delivery: Delivery, *, status: int | None, error: str | None) -> None:
        attempt = delivery.attempts + 1
        delivered = status is not None and 200 <= status < 300
        values: dict[str, object] = {
            "attempts": attempt,
            "last_status": status,
            "last_error": error or (None if delivered else f"HTTP {status}"),
        }
        log = logger.bind(
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            attempt=attempt,
            status=status,
        )
        if delivered:
            values["delivered_at"] = func.now()
            log.info("webhook_delivered")
        elif attempt >= self._settings.webhook_max_attempts:
            values["failed_at"] = func.now()
            log.warning("webhook_abandoned", error=values["last_error"])
        else:
            delay = retry_delay_s(
                attempt,
                base_s=self._settings.webhook_retry_base_s,
                cap_s=self._settings.webhook_retry_cap_s,
                jitter=self._faults.jitter(JITTER),
            )
            values["next_attempt_at"] = func.now() + dt.timedelta(seconds=delay)
            log.info("webhook_retry_scheduled", error=values["last_error"], delay_s=round(delay, 3))
        async with self._engine.begin() as connection:
            await connection.execute(
                update(webhook_delivery)
                .where(webhook_delivery.c.id == delivery.id)
                .values(**values)
            )


async def reap_finished_deliveries(engine: AsyncEngine) -> int:
    """Deliveries done with (delivered or given up) for longer than the retention."""
    table = webhook_delivery
    cutoff = func.now() - DELIVERY_RETENTION
    async with engine.begin() as connection:
        result = await connection.execute(
            delete(table).where(or_(table.c.delivered_at < cutoff, table.c.failed_at < cutoff))
        )
    return int(result.rowcount or 0)
