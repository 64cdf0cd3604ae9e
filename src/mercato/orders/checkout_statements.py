"""The checkout's own statements: few round trips, compiled once, sent through the driver.

A checkout is the hottest write of the shop. Through the ORM its statements cost more CPU
in this process than PostgreSQL spends on them (docs/benchmarks.md, Checkout), so the
checkout reads its cart in two statements (the row lock, then everything under it) and
writes the order, its lines, saga row and history, and empties the cart, in one. Each is a
`text()` compiled once (`UnitOfWork.queries`) and sent on the unit of work's connection
(`UnitOfWork.fetch`), in its transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text

from mercato.catalog import SellableVariant, StockLine
from mercato.orders.states import OrderStatus
from mercato.platform.db.uow import UnitOfWork

# The customer's cart, locked: every change of a cart is made holding this lock.
_LOCK_CART = text(
    """
    SELECT id, currency, shipping_method_id, shipping_country, shipping_address_encrypted
    FROM orders_cart WHERE customer_id = :customer_id
    FOR UPDATE
    """
)

# Read after the lock is granted (a new snapshot: what a concurrent change committed while
# we waited is seen): the lines, the method's price in the cart's currency, the country's
# tax rate and the customer's unpaid orders. One row per line (one row of NULL line
# columns for an empty cart); the cart-wide columns repeat. The unpaid orders are counted
# on the partial index `ix_orders_order_customer_pending`; the status is written as a
# literal so that a generic plan matches its predicate too (with a parameter, the planner
# once combined the customer's index with every pending order of the shop: a checkout got
# slower with each unpaid order, docs/benchmarks.md).
_CART_CONTENTS = text(
    """
    SELECT l.variant_id, l.quantity, m.code AS method_code, m.active AS method_active,
           sp.price_minor AS shipping_minor, t.rate_bp,
           (SELECT count(*) FROM orders_order o
            WHERE o.customer_id = :customer_id
              AND o.status = 'pending_payment') AS pending_orders
    FROM (VALUES (1)) AS cart(one)
    LEFT JOIN orders_cart_line l ON l.cart_id = :cart_id
    LEFT JOIN orders_shipping_method m ON m.id = :method_id
    LEFT JOIN orders_shipping_price sp ON sp.method_id = m.id AND sp.currency = :currency
    LEFT JOIN orders_tax_rate t ON t.country = :country
    ORDER BY l.added_at, l.variant_id
    """
)

# The order, its lines (positions in the cart's order), its saga row and first history
# entry, and the cart emptied with a new version: one statement. The rows referring to
# the order are checked against it at the end of the statement, once it is inserted.
_WRITE_ORDER = text(
    """
    WITH placed AS (
        INSERT INTO orders_order (id, customer_id, status, currency, subtotal_minor,
            shipping_minor, tax_minor, total_minor, tax_rate_bp, shipping_method_code,
            shipping_country, shipping_address_encrypted, reserved_until, created_at,
            updated_at)
        VALUES (:order_id, :customer_id, :status, :currency, :subtotal_minor,
            :shipping_minor, :tax_minor, :total_minor, :tax_rate_bp, :method_code,
            :country, CAST(:address AS jsonb), :reserved_until, :now, :now)
        RETURNING id
    ), order_lines AS (
        INSERT INTO orders_order_line (order_id, variant_id, product_id, category_id,
            position, sku, product_name, title, unit_price_minor, quantity, line_total_minor)
        SELECT placed.id, l.variant_id, l.product_id, l.category_id, l.n - 1, l.sku,
               l.product_name, l.title, l.unit_price_minor, l.quantity,
               l.unit_price_minor * l.quantity
        FROM placed, unnest(CAST(:variant_ids AS uuid[]), CAST(:product_ids AS uuid[]),
            CAST(:category_ids AS uuid[]), CAST(:skus AS text[]), CAST(:names AS text[]),
            CAST(:titles AS text[]), CAST(:unit_prices AS bigint[]),
            CAST(:quantities AS integer[]))
            WITH ORDINALITY AS l(variant_id, product_id, category_id, sku, product_name,
                title, unit_price_minor, quantity, n)
    ), saga AS (
        INSERT INTO orders_checkout_saga (order_id, stock, payment)
        SELECT id, 'reserved', 'intent_pending' FROM placed
    ), history AS (
        INSERT INTO orders_order_history (order_id, from_status, to_status, event, actor)
        SELECT id, NULL, :status, 'placed', :actor FROM placed
    ), emptied AS (
        DELETE FROM orders_cart_line WHERE cart_id = :cart_id
    )
    UPDATE orders_cart SET version = version + 1, updated_at = :now WHERE id = :cart_id
    """
)


@dataclass(frozen=True, slots=True)
class CheckoutCart:
    """The customer's cart as the checkout needs it, read under its row lock."""

    id: uuid.UUID
    currency: str | None
    shipping_country: str | None
    shipping_address_encrypted: dict[str, Any] | None
    lines: list[StockLine]  # in the cart's order
    method_code: str | None  # None: no method, or no longer active
    shipping_minor: int | None  # None: the method has no price in the cart's currency
    tax_rate_bp: int | None
    pending_orders: int


async def locked_cart(uow: UnitOfWork, customer_id: uuid.UUID) -> CheckoutCart | None:
    """The customer's cart under its row lock, with what pricing it needs (2 statements)."""
    lock = uow.queries.get("orders.checkout.lock_cart", lambda: _LOCK_CART)
    found = await uow.fetch(lock, {"customer_id": customer_id})
    if not found:
        return None
    [cart] = found
    contents = uow.queries.get("orders.checkout.cart_contents", lambda: _CART_CONTENTS)
    rows = await uow.fetch(
        contents,
        {
            "customer_id": customer_id,
            "cart_id": cart["id"],
            "method_id": cart["shipping_method_id"],
            "currency": cart["currency"],
            "country": cart["shipping_country"],
        },
    )
    first = rows[0]
    return CheckoutCart(
        id=cart["id"],
        currency=cart["currency"],
        shipping_country=cart["shipping_country"],
        shipping_address_encrypted=cart["shipping_address_encrypted"],
        lines=[StockLine(row["variant_id"], row["quantity"]) for row in rows if row["variant_id"]],
        method_code=first["method_code"] if first["method_active"] else None,
        shipping_minor=first["shipping_minor"] if first["method_active"] else None,
        tax_rate_bp=first["rate_bp"],
        pending_orders=first["pending_orders"],
    )


@dataclass(frozen=True, slots=True)
class PlacedLine:
    variant: SellableVariant
    quantity: int
    unit_price_minor: int

    @property
    def line_total_minor(self) -> int:
        return self.unit_price_minor * self.quantity


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order as the checkout writes it (`pending_payment`, version 1)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    currency: str
    subtotal_minor: int
    shipping_minor: int
    tax_minor: int
    tax_rate_bp: int
    shipping_method_code: str
    shipping_country: str
    shipping_address_encrypted: dict[str, Any]
    reserved_until: dt.datetime
    created_at: dt.datetime
    lines: Sequence[PlacedLine]
    status: str = OrderStatus.PENDING_PAYMENT.value

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor + self.shipping_minor + self.tax_minor


async def write_order(uow: UnitOfWork, order: NewOrder, *, cart_id: uuid.UUID, actor: str) -> None:
    """Insert the order with its lines, saga row and history; empty the cart (1 statement)."""
    lines = order.lines
    query = uow.queries.get("orders.checkout.write_order", lambda: _WRITE_ORDER)
    await uow.fetch(
        query,
        {
            "order_id": order.id,
            "customer_id": order.customer_id,
            "status": order.status,
            "currency": order.currency,
            "subtotal_minor": order.subtotal_minor,
            "shipping_minor": order.shipping_minor,
            "tax_minor": order.tax_minor,
            "total_minor": order.total_minor,
            "tax_rate_bp": order.tax_rate_bp,
            "method_code": order.shipping_method_code,
            "country": order.shipping_country,
            "address": orjson.dumps(order.shipping_address_encrypted).decode(),
            "reserved_until": order.reserved_until,
            "now": order.created_at,
            "variant_ids": [line.variant.variant_id for line in lines],
            "product_ids": [line.variant.product_id for line in lines],
            "category_ids": [line.variant.category_id for line in lines],
            "skus": [line.variant.sku for line in lines],
            "names": [line.variant.product_name for line in lines],
            "titles": [line.variant.title for line in lines],
            "unit_prices": [line.unit_price_minor for line in lines],
            "quantities": [line.quantity for line in lines],
            "actor": actor,
            "cart_id": cart_id,
        },
    )
