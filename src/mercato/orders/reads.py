"""Reading orders: a customer's own list (keyset pages, newest first) and one order as its
owner sees it (anyone else's is a 404, exactly like a missing one)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.orders.addresses import open_address
from mercato.orders.checkout import ORDER_TABLE
from mercato.orders.errors import OrderNotFound
from mercato.orders.models import CheckoutSaga, Order, OrderLine
from mercato.orders.repository import OrdersReads
from mercato.orders.schemas import HistoryOut, OrderOut, OrderSummaryOut, PaymentStepOut
from mercato.platform.listing import Sort, SortField, fetch_page, parse_datetime, parse_uuid
from mercato.platform.security.fields import FieldKeyRing

NEWEST_FIRST = Sort.parse(
    "-created_at",
    allowed={"created_at": SortField(Order.created_at, parse_datetime)},
    tiebreaker=SortField(Order.id, parse_uuid),
)


async def customer_orders(
    session: AsyncSession, *, customer_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[OrderSummaryOut], str | None]:
    """One page of the customer's orders: one statement on (customer_id, created_at, id)."""
    rows, next_cursor = await fetch_page(
        session,
        select(Order).where(Order.customer_id == customer_id),
        sort=NEWEST_FIRST,
        cursor=cursor,
        limit=limit,
    )
    return [OrderSummaryOut.of(row[0]) for row in rows], next_cursor


async def order_view(
    session: AsyncSession,
    *,
    order_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    field_keys: FieldKeyRing,
    payments_url: str,
) -> OrderOut:
    """The order (with `customer_id`: only if it is that customer's)."""
    reads = OrdersReads(session)
    order = await reads.order(order_id)
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise OrderNotFound()
    return render_order(
        order,
        await reads.order_lines(order_id),
        saga=await reads.saga(order_id),
        field_keys=field_keys,
        payments_url=payments_url,
    )


def render_order(
    order: Order,
    lines: list[OrderLine],
    *,
    saga: CheckoutSaga | None,
    field_keys: FieldKeyRing,
    payments_url: str,
) -> OrderOut:
    address = open_address(
        field_keys, order.shipping_address_encrypted, table=ORDER_TABLE, row_id=order.id
    )
    return OrderOut.of(
        order, lines, address=address, payment=PaymentStepOut.of(saga, payments_url=payments_url)
    )


async def order_history(session: AsyncSession, *, order_id: uuid.UUID) -> list[HistoryOut]:
    return [HistoryOut.of(row) for row in await OrdersReads(session).history(order_id)]
