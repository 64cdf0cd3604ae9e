"""Every order, for staff: filters, allow-listed sorts, keyset pages, each shape served by
an index (a test reads the plans).

Orders name their customer by id only (no email is copied into orders), so a search by
email asks identity which accounts were registered under that address
(`mercato.identity.accounts_with_email`, an index lookup) and filters on those ids, which
`ix_orders_order_customer_created` serves. The indexes below are the admin search's own;
they are declared here, on the orders' table, next to the queries that need them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Index, Select, false, select

from mercato.orders.models import Order
from mercato.orders.states import OrderStatus
from mercato.platform.listing import Sort, SortField, parse_datetime, parse_int, parse_uuid
from mercato.platform.money import MAX_MINOR_UNITS
from mercato.platform.validation import SafeLine, Timestamp

# Status filter, newest first; total range and sort by total. (created_at,id and
# customer_id,created_at,id are the customers' lists' indexes, in models.py.)
STATUS_INDEX = Index("ix_orders_order_status_created", Order.status, Order.created_at, Order.id)
TOTAL_INDEX = Index("ix_orders_order_total", Order.total_minor, Order.id)

ORDER_SORT_FIELDS = {
    "created_at": SortField(Order.created_at, parse_datetime),
    "total": SortField(Order.total_minor, parse_int),
}
ORDER_TIEBREAKER = SortField(Order.id, parse_uuid)


class OrderSearchParams(BaseModel):
    """Query parameters of the admin order search; any other parameter is a 422."""

    model_config = ConfigDict(extra="forbid")

    status: OrderStatus | None = None
    email: SafeLine | None = Field(
        default=None,
        min_length=3,
        max_length=320,
        description="The customer's email address (exact, case-insensitive).",
    )
    customer_id: uuid.UUID | None = None
    created_after: Timestamp | None = None
    created_before: Timestamp | None = None
    min_total: int | None = Field(default=None, ge=0, le=MAX_MINOR_UNITS)
    max_total: int | None = Field(default=None, ge=0, le=MAX_MINOR_UNITS)
    currency: SafeLine | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    sort: SafeLine = Field(
        default="-created_at",
        max_length=100,
        description="created_at or total, '-' for descending.",
    )
    limit: int = Field(default=50, ge=1, le=100)
    cursor: SafeLine | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _ranges_in_order(self) -> OrderSearchParams:
        if (
            self.min_total is not None
            and self.max_total is not None
            and self.min_total > self.max_total
        ):
            raise ValueError("min_total is above max_total")
        if (
            self.created_after is not None
            and self.created_before is not None
            and self.created_after >= self.created_before
        ):
            raise ValueError("created_after is not before created_before")
        return self

    def sorting(self) -> Sort:
        return Sort.parse(self.sort, allowed=ORDER_SORT_FIELDS, tiebreaker=ORDER_TIEBREAKER)


@dataclass(frozen=True, slots=True)
class OrderCriteria:
    status: str | None = None
    # None: any customer; a sequence (maybe empty: nobody has that email): these only.
    customer_ids: Sequence[uuid.UUID] | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    min_total: int | None = None
    max_total: int | None = None
    currency: str | None = None


def order_search(criteria: OrderCriteria) -> Select[Any]:
    """The filtered orders (any order; the page adds the sort and the keyset)."""
    query = select(Order)
    if criteria.status is not None:
        query = query.where(Order.status == criteria.status)
    if criteria.customer_ids is not None:
        ids = list(criteria.customer_ids)
        query = query.where(Order.customer_id.in_(ids) if ids else false())
    if criteria.created_after is not None:
        query = query.where(Order.created_at >= criteria.created_after)
    if criteria.created_before is not None:
        query = query.where(Order.created_at < criteria.created_before)
    if criteria.min_total is not None:
        query = query.where(Order.total_minor >= criteria.min_total)
    if criteria.max_total is not None:
        query = query.where(Order.total_minor <= criteria.max_total)
    if criteria.currency is not None:
        query = query.where(Order.currency == criteria.currency)
    return query
