"""Merchant webhook queries and writes: endpoints, deliveries, the attempt log. Never
commits: the use case's unit of work does.

Locks are taken in one order, the endpoint's row before its deliveries' rows: disabling an
endpoint parks its pending deliveries, and recording an attempt may disable its endpoint,
so taking them the other way round could deadlock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, String, select, true, update
from sqlalchemy.dialects.postgresql import array, insert
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.payments.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from mercato.payments.states import DeliveryStatus
from mercato.platform.db.database import WriteSession

ANY_EVENT = "*"


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    endpoint_id: uuid.UUID
    status: str | None = None


class WebhookReads:
    """Queries that only read: usable on a read session or in a use case."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def endpoint(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        """A live endpoint (a deleted one is gone)."""
        return await self._session.scalar(
            select(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.deleted_at.is_(None)
            )
        )

    async def delivery(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        return await self._session.get(WebhookDelivery, delivery_id)


def endpoints_query(*, enabled: bool | None) -> Select[WebhookEndpoint]:
    """Live endpoints, optionally only enabled (or only disabled) ones."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.deleted_at.is_(None))
    if enabled is not None:
        query = query.where(WebhookEndpoint.enabled.is_(enabled))
    return query


def deliveries_query(criteria: DeliveryFilter) -> Select[WebhookDelivery]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == criteria.endpoint_id)
    if criteria.status is not None:
        query = query.where(WebhookDelivery.status == criteria.status)
    return query


def attempts_query(delivery_id: uuid.UUID) -> Select[WebhookAttempt]:
    return select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)


class WebhookRepository(WebhookReads):
    """Reads, locks and writes on the use case's session."""

    def __init__(self, session: WriteSession) -> None:
        super().__init__(session)

    def add(self, row: WebhookEndpoint | WebhookAttempt) -> None:
        self._session.add(row)

    async def endpoint_for_update(
        self, endpoint_id: uuid.UUID, *, deleted_too: bool = False
    ) -> WebhookEndpoint | None:
        """The endpoint, row-locked for the rest of the transaction (fresh from the row)."""
        query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        if not deleted_too:
            query = query.where(WebhookEndpoint.deleted_at.is_(None))
        return await self._session.scalar(
            query.with_for_update().execution_options(populate_existing=True)
        )

    async def delivery_for_update(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        """The delivery, row-locked (take its endpoint's lock first)."""
        return await self._session.scalar(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def subscribed_endpoints(self, event_type: str) -> list[uuid.UUID]:
        """Enabled, live endpoints that take `event_type` (by name, or `*`)."""
        rows = await self._session.scalars(
            select(WebhookEndpoint.id)
            .where(
                WebhookEndpoint.enabled.is_(True),
                WebhookEndpoint.deleted_at.is_(None),
                WebhookEndpoint.event_types.op("&&")(
                    array([event_type, ANY_EVENT], type_=String(100))
                ),
            )
            .order_by(WebhookEndpoint.id)
        )
        return list(rows)

    async def add_deliveries(self, rows: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
        """Insert deliveries; one that exists for its (endpoint, event) is skipped (the
        unique index is the last guard against a redelivered event). The ids inserted."""
        if not rows:
            return []
        inserted = await self._session.scalars(
            insert(WebhookDelivery)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
            .returning(WebhookDelivery.id)
        )
        return list(inserted)

    async def park_pending(self, endpoint_id: uuid.UUID) -> int:
        """Abandon the endpoint's pending deliveries (its row must be locked): they wait for
        a replay once the endpoint is enabled again."""
        result = await self._session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
            )
            .values(status=DeliveryStatus.ABANDONED.value, next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def overdue_deliveries(self, *, before: dt.datetime, limit: int) -> list[WebhookDelivery]:
        """Pending deliveries of enabled endpoints whose attempt is long overdue (its job was
        lost), locked; others sweeping at once skip them."""
        rows = await self._session.scalars(
            select(WebhookDelivery)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
                WebhookDelivery.next_attempt_at < before,
                WebhookEndpoint.enabled.is_(true()),
                WebhookEndpoint.deleted_at.is_(None),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        )
        return list(rows)
