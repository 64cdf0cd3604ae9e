"""Orders' tables (prefixed `orders_`): carts, shipping methods, tax rates, orders, their
lines and history, and the checkout saga.

Variants and customers are referenced by id only: they belong to catalog and identity, and
a context owns its tables (no foreign keys across contexts). An order keeps a snapshot of
what was bought (SKU, names, unit price), so it never changes when the catalog does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mercato.orders.states import OrderStatus
from mercato.platform.db.metadata import Base

ORDER_STATUSES = tuple(status.value for status in OrderStatus)
# Where each saga step stands (see `saga.py`).
STOCK_STEPS = ("reserved", "committed", "released")
PAYMENT_STEPS = (
    "intent_pending",  # the intent is to be created (the checkout's call failed, or runs)
    "intent_created",
    "succeeded",
    "cancel_pending",  # the order is canceled: the intent is to be canceled
    "canceled",
    "refund_pending",  # paid after the order was canceled: to be refunded
    "refunded",
)
SAGA_STATUSES = ("running", "completed", "compensated")
MAX_MINOR = 10**12
TOKEN_HASH_BYTES = 32


def _now() -> Any:
    return func.now()


class ShippingMethod(Base):
    """A way to ship, with a flat price per currency (`ShippingPrice`)."""

    __tablename__ = "orders_shipping_method"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (CheckConstraint("code ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="code_format"),)


class ShippingPrice(Base):
    __tablename__ = "orders_shipping_price"

    method_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders_shipping_method.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    price_minor: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint(f"price_minor BETWEEN 0 AND {MAX_MINOR}", name="price_in_range"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso_4217"),
    )


class TaxRate(Base):
    """The tax rate of a country, in basis points (2000 = 20 %). A country without a rate
    is not shipped to."""

    __tablename__ = "orders_tax_rate"

    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    rate_bp: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        CheckConstraint("rate_bp BETWEEN 0 AND 10000", name="rate_in_range"),
        CheckConstraint("country ~ '^[A-Z]{2}$'", name="country_iso_3166"),
    )


class Cart(Base):
    """A customer's cart (one per customer), or a guest's, found by the SHA-256 of its
    token (the token itself is only ever in the guest's hands)."""

    __tablename__ = "orders_cart"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(TOKEN_HASH_BYTES))
    currency: Mapped[str | None] = mapped_column(String(3))
    shipping_method_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders_shipping_method.id", ondelete="SET NULL")
    )
    # The country in clear (it chooses the tax rate); the whole address encrypted.
    shipping_country: Mapped[str | None] = mapped_column(String(2))
    shipping_address_encrypted: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        CheckConstraint("(customer_id IS NULL) <> (token_hash IS NULL)", name="customer_or_guest"),
        Index(
            "uq_orders_cart_customer_id",
            "customer_id",
            unique=True,
            postgresql_where=text("customer_id IS NOT NULL"),
        ),
        Index(
            "uq_orders_cart_token_hash",
            "token_hash",
            unique=True,
            postgresql_where=text("token_hash IS NOT NULL"),
        ),
        Index(
            "ix_orders_cart_guest_updated",
            "updated_at",
            postgresql_where=text("token_hash IS NOT NULL"),
        ),
    )


class CartLine(Base):
    __tablename__ = "orders_cart_line"

    cart_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders_cart.id", ondelete="CASCADE"), primary_key=True
    )
    variant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    # The unit price when the line was added (or last changed): a later read compares.
    added_unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class Order(Base):
    __tablename__ = "orders_order"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    shipping_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    tax_rate_bp: Mapped[int] = mapped_column(Integer)
    shipping_method_code: Mapped[str] = mapped_column(String(40))
    shipping_country: Mapped[str] = mapped_column(String(2))
    shipping_address_encrypted: Mapped[dict[str, Any]] = mapped_column(JSONB)
    payment_intent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The stock is held until then; an unpaid order is canceled after it (the expiry job).
    reserved_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    fulfilled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    canceled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"status IN {ORDER_STATUSES}", name="status"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso_4217"),
        CheckConstraint(
            "subtotal_minor >= 0 AND shipping_minor >= 0 AND tax_minor >= 0"
            " AND total_minor = subtotal_minor + shipping_minor + tax_minor",
            name="totals_add_up",
        ),
        CheckConstraint("refunded_minor BETWEEN 0 AND total_minor", name="refunds_within_total"),
        # A customer's own list, newest first (keyset on created_at, id).
        Index("ix_orders_order_customer_created", "customer_id", "created_at", "id"),
        Index("ix_orders_order_created", "created_at", "id"),
        # A customer's unpaid orders, counted by each checkout (`checkout_statements`).
        Index(
            "ix_orders_order_customer_pending",
            "customer_id",
            postgresql_where=text("status = 'pending_payment'"),
        ),
        # The expiry job's scan: unpaid orders by the end of their reservation.
        Index(
            "ix_orders_order_pending_reserved_until",
            "reserved_until",
            postgresql_where=text("status = 'pending_payment'"),
        ),
        Index(
            "uq_orders_order_payment_intent_id",
            "payment_intent_id",
            unique=True,
            postgresql_where=text("payment_intent_id IS NOT NULL"),
        ),
    )


class OrderLine(Base):
    """What was bought, as it was at checkout (a price snapshot)."""

    __tablename__ = "orders_order_line"

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders_order.id", ondelete="CASCADE"), primary_key=True
    )
    variant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    category_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    product_name: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(300))
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    line_total_minor: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor >= 0", name="unit_price_not_negative"),
        CheckConstraint(
            "line_total_minor = unit_price_minor * quantity", name="line_total_adds_up"
        ),
    )


class OrderHistory(Base):
    """Every change of an order: the transition (or a note without one, such as an
    automatic refund of a late payment), who made it and when."""

    __tablename__ = "orders_order_history"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders_order.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    event: Mapped[str] = mapped_column(String(40))
    # "customer:<id>", "admin:<id>", "system:<what>", "payments": never a name or email.
    actor: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str | None] = mapped_column(String(500))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (Index("ix_orders_order_history_order_id", "order_id", "id"),)


class CheckoutSaga(Base):
    """The checkout saga of one order, step by step (see `saga.py`). Every change is made
    under the order's row lock, in the unit of work of the step, with its outbox event."""

    __tablename__ = "orders_checkout_saga"

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders_order.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), server_default=text("'running'"))
    stock: Mapped[str] = mapped_column(String(16))
    payment: Mapped[str] = mapped_column(String(24))
    intent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        CheckConstraint(f"status IN {SAGA_STATUSES}", name="status"),
        CheckConstraint(f"stock IN {STOCK_STEPS}", name="stock_step"),
        CheckConstraint(f"payment IN {PAYMENT_STEPS}", name="payment_step"),
        # The resume sweep: steps that wait for a job (index of the few, not of all).
        Index(
            "ix_orders_checkout_saga_waiting",
            "updated_at",
            postgresql_where=text(
                "payment IN ('intent_pending', 'cancel_pending', 'refund_pending')"
            ),
        ),
    )


class ViewRefresh(Base):
    """When a materialized view was last refreshed: written by the refresh in its own
    transaction, so it names the contents readers see (`reporting.refresh_sales_view`)."""

    __tablename__ = "orders_view_refresh"

    view_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    refreshed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
