"""What staff send and get back about orders: the search's items, an order with its lines,
its history, refunds, and the sales report."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from mercato.orders.models import Order, OrderHistory, OrderLine
from mercato.orders.reporting import SalesRow
from mercato.orders.schemas import OrderLineOut
from mercato.platform.money import MAX_MINOR_UNITS
from mercato.platform.validation import SafeLine


class AdminOrderSummary(BaseModel):
    """An order in the search's results (no lines, no address)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    status: str
    currency: str
    total_minor: int
    refunded_minor: int
    created_at: dt.datetime
    paid_at: dt.datetime | None
    fulfilled_at: dt.datetime | None
    canceled_at: dt.datetime | None
    version: int

    @classmethod
    def of(cls, order: Order) -> AdminOrderSummary:
        return cls(
            id=order.id,
            customer_id=order.customer_id,
            status=order.status,
            currency=order.currency,
            total_minor=order.total_minor,
            refunded_minor=order.refunded_minor,
            created_at=order.created_at,
            paid_at=order.paid_at,
            fulfilled_at=order.fulfilled_at,
            canceled_at=order.canceled_at,
            version=order.version,
        )


class AdminOrderLine(OrderLineOut):
    """A line as customers see it, and its category (reporting's grouping)."""

    category_id: uuid.UUID | None

    @classmethod
    def of(cls, line: OrderLine) -> AdminOrderLine:
        return cls(**OrderLineOut.of(line).model_dump(), category_id=line.category_id)


class AdminOrderOut(AdminOrderSummary):
    """One order for staff: totals, lines, shipping (the address stays sealed: staff who
    ship read it where labels are printed, not in this API), payment and cancel reason."""

    subtotal_minor: int
    shipping_minor: int
    tax_minor: int
    tax_rate_bp: int
    shipping_method_code: str
    shipping_country: str
    payment_intent_id: uuid.UUID | None
    cancel_reason: str | None
    lines: list[AdminOrderLine]

    @classmethod
    def with_lines(cls, order: Order, lines: Sequence[OrderLine]) -> AdminOrderOut:
        return cls(
            **AdminOrderSummary.of(order).model_dump(),
            subtotal_minor=order.subtotal_minor,
            shipping_minor=order.shipping_minor,
            tax_minor=order.tax_minor,
            tax_rate_bp=order.tax_rate_bp,
            shipping_method_code=order.shipping_method_code,
            shipping_country=order.shipping_country,
            payment_intent_id=order.payment_intent_id,
            cancel_reason=order.cancel_reason,
            lines=[AdminOrderLine.of(line) for line in lines],
        )


class OrderHistoryEntry(BaseModel):
    """One change: the transition (or a note without one), who made it, when."""

    at: dt.datetime
    from_status: str | None
    to_status: str
    event: str
    actor: str = Field(description="customer:<id>, admin:<id>, system:<what> or payments")
    detail: str | None
    amount_minor: int | None

    @classmethod
    def of(cls, entry: OrderHistory) -> OrderHistoryEntry:
        return cls(
            at=entry.at,
            from_status=entry.from_status,
            to_status=entry.to_status,
            event=entry.event,
            actor=entry.actor,
            detail=entry.detail,
            amount_minor=entry.amount_minor,
        )


class OrderHistoryOut(BaseModel):
    order_id: uuid.UUID
    entries: list[OrderHistoryEntry]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdminCancelIn(_Input):
    reason: SafeLine = Field(default="admin", min_length=1, max_length=40, pattern=r"^[a-z_]+$")


class RefundIn(_Input):
    """A refund of the order's payment: `amount_minor` of what is left (all of it when
    absent)."""

    amount_minor: int | None = Field(default=None, ge=1, le=MAX_MINOR_UNITS)
    reason: SafeLine | None = Field(default=None, max_length=200)


class SalesReportOut(BaseModel):
    from_: dt.date = Field(serialization_alias="from")
    to: dt.date
    group_by: list[str]
    refreshed_at: dt.datetime | None = Field(
        description="When the sales view was last refreshed: the figures hold every order"
        " paid or refunded before it. null: never refreshed since it was created."
    )
    items: list[SalesRow]
    next: str | None
