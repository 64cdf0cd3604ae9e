"""Events orders publishes (contracts, version 1), one per order transition.

Published in the transition's own unit of work (the outbox), ordered per order. Amounts in
integer minor units. They name the customer by id only: no address, no email.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from mercato.platform.events.contracts import EventPayload

ORDER = "orders.order"


class _OrderEvent(EventPayload):
    aggregate_type = ORDER

    order_id: uuid.UUID
    customer_id: uuid.UUID
    currency: str
    total_minor: int


class OrderLinePlaced(BaseModel):
    """One line of a placed order (inside `OrderPlaced`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant_id: uuid.UUID
    product_id: uuid.UUID
    quantity: int
    unit_price_minor: int


class OrderPlaced(_OrderEvent):
    """A checkout reserved the stock and opened the order; it waits for its payment."""

    name = "orders.order.placed"
    version = 1

    lines: list[OrderLinePlaced]
    reserved_until: str


class OrderPaid(_OrderEvent):
    """The payment succeeded; the reserved stock is committed (it leaves the shelf)."""

    name = "orders.order.paid"
    version = 1

    payment_intent_id: uuid.UUID | None


class OrderCanceled(_OrderEvent):
    """Canceled before payment (by the customer, an administrator, a failed or canceled
    payment, or the end of the reservation); the stock is back on sale."""

    name = "orders.order.canceled"
    version = 1

    reason: str


class OrderFulfilled(_OrderEvent):
    name = "orders.order.fulfilled"
    version = 1


class OrderRefunded(_OrderEvent):
    """Money went back: `refunded_minor` is the order's total refunded so far; `status`
    is `refunded` or `partially_refunded` (or `canceled` for a payment that came after the
    order was canceled, refunded automatically)."""

    name = "orders.order.refunded"
    version = 1

    refunded_minor: int
    status: str


CONTRACTS: tuple[type[EventPayload], ...] = (
    OrderPlaced,
    OrderPaid,
    OrderCanceled,
    OrderFulfilled,
    OrderRefunded,
)
