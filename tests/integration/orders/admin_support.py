"""Orders as the checkout and the saga leave them, written straight into the tables: the
staff's search, history, report and mails read what is there, whichever way it got there
(the checkout itself is tested with the core's suites)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.orders.addresses import ShippingAddress, seal_address
from mercato.orders.models import CheckoutSaga, Order, OrderHistory, OrderLine
from mercato.platform.ids import uuid7
from mercato.platform.security.fields import FieldKeyRing

PAID_STATUSES = ("paid", "fulfilled", "partially_refunded", "refunded")
ADDRESS = ShippingAddress(
    name="Ada Lovelace", line1="12 rue des Lilas", city="Lyon", postal_code="69003", country="FR"
)


@dataclass(frozen=True)
class Line:
    unit_price_minor: int
    quantity: int = 1
    variant_id: uuid.UUID = field(default_factory=uuid.uuid4)
    product_id: uuid.UUID = field(default_factory=uuid.uuid4)
    category_id: uuid.UUID | None = None


async def insert_order(
    connection: AsyncConnection,
    *,
    customer_id: uuid.UUID,
    lines: Sequence[Line],
    status: str = "paid",
    currency: str = "EUR",
    shipping_minor: int = 0,
    tax_minor: int = 0,
    refunded_minor: int = 0,
    created_at: dt.datetime | None = None,
    paid_at: dt.datetime | None = None,
    field_keys: FieldKeyRing | None = None,
) -> uuid.UUID:
    """An order with its lines, saga row and history (placed, and paid when it was); its
    address sealed with `field_keys` (a placeholder without: routes that show the
    address cannot read it)."""
    order_id = uuid7()
    now = created_at or dt.datetime.now(dt.UTC)
    subtotal = sum(line.unit_price_minor * line.quantity for line in lines)
    was_paid = status in PAID_STATUSES
    paid = (paid_at or now + dt.timedelta(minutes=1)) if was_paid else None
    await connection.execute(
        insert(Order).values(
            id=order_id,
            customer_id=customer_id,
            status=status,
            currency=currency,
            subtotal_minor=subtotal,
            shipping_minor=shipping_minor,
            tax_minor=tax_minor,
            total_minor=subtotal + shipping_minor + tax_minor,
            refunded_minor=refunded_minor,
            tax_rate_bp=0,
            shipping_method_code="standard",
            shipping_country="FR",
            shipping_address_encrypted=(
                seal_address(field_keys, ADDRESS, table="orders_order", row_id=order_id)
                if field_keys is not None
                else {"v": 1}
            ),
            payment_intent_id=uuid.uuid4() if was_paid else None,
            reserved_until=now + dt.timedelta(minutes=15),
            created_at=now,
            updated_at=now,
            paid_at=paid,
            canceled_at=now if status == "canceled" else None,
            fulfilled_at=now if status == "fulfilled" else None,
        )
    )
    for position, line in enumerate(lines):
        await connection.execute(
            insert(OrderLine).values(
                order_id=order_id,
                variant_id=line.variant_id,
                product_id=line.product_id,
                category_id=line.category_id,
                position=position,
                sku=f"SKU-{position}",
                product_name=f"Product {position}",
                title="",
                unit_price_minor=line.unit_price_minor,
                quantity=line.quantity,
                line_total_minor=line.unit_price_minor * line.quantity,
            )
        )
    await connection.execute(
        insert(CheckoutSaga).values(
            order_id=order_id,
            status="completed" if was_paid else "running",
            stock="committed" if was_paid else "reserved",
            payment="succeeded" if was_paid else "intent_created",
        )
    )
    await add_history(
        connection, order_id, None, "pending_payment", "placed", f"customer:{customer_id}", now
    )
    if paid is not None:
        await add_history(connection, order_id, "pending_payment", "paid", "paid", "payments", paid)
    return order_id


async def add_history(  # noqa: PLR0917 - a history row, column by column
    connection: AsyncConnection,
    order_id: uuid.UUID,
    from_status: str | None,
    to_status: str,
    event: str,
    actor: str,
    at: dt.datetime,
    amount_minor: int | None = None,
) -> None:
    await connection.execute(
        insert(OrderHistory).values(
            order_id=order_id,
            from_status=from_status,
            to_status=to_status,
            event=event,
            actor=actor,
            at=at,
            amount_minor=amount_minor,
        )
    )
