"""Orders: carts (customer and guest), shipping methods with a flat price per currency,
tax rates per country, orders with their lines (a price snapshot) and history, and the
checkout saga's persisted state.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Who runs the shop may change orders, shipping methods and tax rates (`orders:read` and
# the customers' `orders:own` were granted with the roles, in 0005).
GRANTS = (("staff", "orders:write"), ("admin", "orders:write"))


def upgrade() -> None:
    op.create_table(
        "orders_order",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal_minor", sa.BigInteger(), nullable=False),
        sa.Column("shipping_minor", sa.BigInteger(), nullable=False),
        sa.Column("tax_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("tax_rate_bp", sa.Integer(), nullable=False),
        sa.Column("shipping_method_code", sa.String(length=40), nullable=False),
        sa.Column("shipping_country", sa.String(length=2), nullable=False),
        sa.Column(
            "shipping_address_encrypted", postgresql.JSONB(astext_type=sa.Text()), nullable=False
        ),
        sa.Column("payment_intent_id", sa.UUID(), nullable=True),
        sa.Column("reserved_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancel_reason", sa.String(length=40), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_orders_order_currency_iso_4217")
        ),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'paid', 'fulfilled', 'canceled',"
            " 'partially_refunded', 'refunded')",
            name=op.f("ck_orders_order_status"),
        ),
        sa.CheckConstraint(
            "refunded_minor BETWEEN 0 AND total_minor",
            name=op.f("ck_orders_order_refunds_within_total"),
        ),
        sa.CheckConstraint(
            "subtotal_minor >= 0 AND shipping_minor >= 0 AND tax_minor >= 0"
            " AND total_minor = subtotal_minor + shipping_minor + tax_minor",
            name=op.f("ck_orders_order_totals_add_up"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_order")),
    )
    op.create_index("ix_orders_order_created", "orders_order", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_orders_order_customer_created",
        "orders_order",
        ["customer_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_orders_order_pending_reserved_until",
        "orders_order",
        ["reserved_until"],
        unique=False,
        postgresql_where=sa.text("status = 'pending_payment'"),
    )
    op.create_index(
        "uq_orders_order_payment_intent_id",
        "orders_order",
        ["payment_intent_id"],
        unique=True,
        postgresql_where=sa.text("payment_intent_id IS NOT NULL"),
    )
    op.create_table(
        "orders_shipping_method",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "code ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name=op.f("ck_orders_shipping_method_code_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_shipping_method")),
        sa.UniqueConstraint("code", name=op.f("uq_orders_shipping_method_code")),
    )
    op.create_table(
        "orders_tax_rate",
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "country ~ '^[A-Z]{2}$'", name=op.f("ck_orders_tax_rate_country_iso_3166")
        ),
        sa.CheckConstraint(
            "rate_bp BETWEEN 0 AND 10000", name=op.f("ck_orders_tax_rate_rate_in_range")
        ),
        sa.PrimaryKeyConstraint("country", name=op.f("pk_orders_tax_rate")),
    )
    op.create_table(
        "orders_cart",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("shipping_method_id", sa.UUID(), nullable=True),
        sa.Column("shipping_country", sa.String(length=2), nullable=True),
        sa.Column(
            "shipping_address_encrypted", postgresql.JSONB(astext_type=sa.Text()), nullable=True
        ),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(customer_id IS NULL) <> (token_hash IS NULL)",
            name=op.f("ck_orders_cart_customer_or_guest"),
        ),
        sa.ForeignKeyConstraint(
            ["shipping_method_id"],
            ["orders_shipping_method.id"],
            name=op.f("fk_orders_cart_shipping_method_id_orders_shipping_method"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_cart")),
    )
    op.create_index(
        "ix_orders_cart_guest_updated",
        "orders_cart",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("token_hash IS NOT NULL"),
    )
    op.create_index(
        "uq_orders_cart_customer_id",
        "orders_cart",
        ["customer_id"],
        unique=True,
        postgresql_where=sa.text("customer_id IS NOT NULL"),
    )
    op.create_index(
        "uq_orders_cart_token_hash",
        "orders_cart",
        ["token_hash"],
        unique=True,
        postgresql_where=sa.text("token_hash IS NOT NULL"),
    )
    op.create_table(
        "orders_checkout_saga",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'running'"), nullable=False
        ),
        sa.Column("stock", sa.String(length=16), nullable=False),
        sa.Column("payment", sa.String(length=24), nullable=False),
        sa.Column("intent_id", sa.UUID(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "payment IN ('intent_pending', 'intent_created', 'succeeded', 'cancel_pending',"
            " 'canceled', 'refund_pending', 'refunded')",
            name=op.f("ck_orders_checkout_saga_payment_step"),
        ),
        sa.CheckConstraint(
            "status IN ('running', 'completed', 'compensated')",
            name=op.f("ck_orders_checkout_saga_status"),
        ),
        sa.CheckConstraint(
            "stock IN ('reserved', 'committed', 'released')",
            name=op.f("ck_orders_checkout_saga_stock_step"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders_order.id"],
            name=op.f("fk_orders_checkout_saga_order_id_orders_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders_checkout_saga")),
    )
    op.create_index(
        "ix_orders_checkout_saga_waiting",
        "orders_checkout_saga",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text(
            "payment IN ('intent_pending', 'cancel_pending', 'refund_pending')"
        ),
    )
    op.create_table(
        "orders_order_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders_order.id"],
            name=op.f("fk_orders_order_history_order_id_orders_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_order_history")),
    )
    op.create_index(
        "ix_orders_order_history_order_id", "orders_order_history", ["order_id", "id"], unique=False
    )
    op.create_table(
        "orders_order_line",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("category_id", sa.UUID(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("product_name", sa.String(length=300), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("line_total_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "line_total_minor = unit_price_minor * quantity",
            name=op.f("ck_orders_order_line_line_total_adds_up"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_orders_order_line_quantity_positive")),
        sa.CheckConstraint(
            "unit_price_minor >= 0", name=op.f("ck_orders_order_line_unit_price_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders_order.id"],
            name=op.f("fk_orders_order_line_order_id_orders_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "variant_id", name=op.f("pk_orders_order_line")),
    )
    op.create_index(
        op.f("ix_orders_order_line_product_id"), "orders_order_line", ["product_id"], unique=False
    )
    op.create_table(
        "orders_shipping_price",
        sa.Column("method_id", sa.UUID(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_orders_shipping_price_currency_iso_4217")
        ),
        sa.CheckConstraint(
            "price_minor BETWEEN 0 AND 1000000000000",
            name=op.f("ck_orders_shipping_price_price_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["method_id"],
            ["orders_shipping_method.id"],
            name=op.f("fk_orders_shipping_price_method_id_orders_shipping_method"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("method_id", "currency", name=op.f("pk_orders_shipping_price")),
    )
    op.create_table(
        "orders_cart_line",
        sa.Column("cart_id", sa.UUID(), nullable=False),
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("added_unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column(
            "added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_orders_cart_line_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["cart_id"],
            ["orders_cart.id"],
            name=op.f("fk_orders_cart_line_cart_id_orders_cart"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cart_id", "variant_id", name=op.f("pk_orders_cart_line")),
    )

    for role, permission in GRANTS:
        op.execute(
            sa.text(
                "INSERT INTO identity_role_permission (role, permission) VALUES (:role, :p)"
                " ON CONFLICT DO NOTHING"
            ).bindparams(role=role, p=permission)
        )


def downgrade() -> None:
    for role, permission in GRANTS:
        op.execute(
            sa.text(
                "DELETE FROM identity_role_permission WHERE role = :role AND permission = :p"
            ).bindparams(role=role, p=permission)
        )
    op.drop_table("orders_cart_line")
    op.drop_table("orders_shipping_price")
    op.drop_index(op.f("ix_orders_order_line_product_id"), table_name="orders_order_line")
    op.drop_table("orders_order_line")
    op.drop_index("ix_orders_order_history_order_id", table_name="orders_order_history")
    op.drop_table("orders_order_history")
    op.drop_index(
        "ix_orders_checkout_saga_waiting",
        table_name="orders_checkout_saga",
        postgresql_where=sa.text(
            "payment IN ('intent_pending', 'cancel_pending', 'refund_pending')"
        ),
    )
    op.drop_table("orders_checkout_saga")
    op.drop_index(
        "uq_orders_cart_token_hash",
        table_name="orders_cart",
        postgresql_where=sa.text("token_hash IS NOT NULL"),
    )
    op.drop_index(
        "uq_orders_cart_customer_id",
        table_name="orders_cart",
        postgresql_where=sa.text("customer_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_orders_cart_guest_updated",
        table_name="orders_cart",
        postgresql_where=sa.text("token_hash IS NOT NULL"),
    )
    op.drop_table("orders_cart")
    op.drop_table("orders_tax_rate")
    op.drop_table("orders_shipping_method")
    op.drop_index(
        "uq_orders_order_payment_intent_id",
        table_name="orders_order",
        postgresql_where=sa.text("payment_intent_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_orders_order_pending_reserved_until",
        table_name="orders_order",
        postgresql_where=sa.text("status = 'pending_payment'"),
    )
    op.drop_index("ix_orders_order_customer_created", table_name="orders_order")
    op.drop_index("ix_orders_order_created", table_name="orders_order")
    op.drop_table("orders_order")
