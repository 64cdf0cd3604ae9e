"""Intents for staff: filtered, allow-listed sorts, keyset pages (indexed on
(created_at, id) and (status, created_at))."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select

from mercato.payments.models import PaymentIntent
from mercato.payments.states import IntentStatus
from mercato.platform.listing import Sort, SortField, parse_datetime, parse_int, parse_uuid
from mercato.platform.validation import SafeLine, Timestamp

INTENT_SORT_FIELDS = {
    "created_at": SortField(PaymentIntent.created_at, parse_datetime),
    "amount": SortField(PaymentIntent.amount, parse_int),
}
INTENT_TIEBREAKER = SortField(PaymentIntent.id, parse_uuid)


class IntentSearchParams(BaseModel):
    """Query parameters of the intent search; any other parameter is a 422."""

    model_config = ConfigDict(extra="forbid")

    status: IntentStatus | None = None
    order_reference: SafeLine | None = Field(default=None, max_length=100)
    customer_id: uuid.UUID | None = None
    created_after: Timestamp | None = None
    created_before: Timestamp | None = None
    sort: SafeLine = Field(
        default="-created_at",
        max_length=100,
        description="created_at or amount, '-' for descending.",
    )
    limit: int = Field(default=50, ge=1, le=100)
    cursor: SafeLine | None = Field(default=None, max_length=1024)

    def sorting(self) -> Sort:
        return Sort.parse(self.sort, allowed=INTENT_SORT_FIELDS, tiebreaker=INTENT_TIEBREAKER)


@dataclass(frozen=True, slots=True)
class IntentCriteria:
    status: str | None = None
    order_reference: str | None = None
    customer_id: uuid.UUID | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None

    @classmethod
    def of(cls, params: IntentSearchParams) -> IntentCriteria:
        return cls(
            status=params.status.value if params.status is not None else None,
            order_reference=params.order_reference,
            customer_id=params.customer_id,
            created_after=params.created_after,
            created_before=params.created_before,
        )


def intent_search(criteria: IntentCriteria) -> Select[Any]:
    query = select(PaymentIntent)
    if criteria.status is not None:
        query = query.where(PaymentIntent.status == criteria.status)
    if criteria.order_reference is not None:
        query = query.where(PaymentIntent.order_reference == criteria.order_reference)
    if criteria.customer_id is not None:
        query = query.where(PaymentIntent.customer_id == criteria.customer_id)
    if criteria.created_after is not None:
        query = query.where(PaymentIntent.created_at >= criteria.created_after)
    if criteria.created_before is not None:
        query = query.where(PaymentIntent.created_at < criteria.created_before)
    return query
