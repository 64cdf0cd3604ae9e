"""Catalog: the category tree, products (full-text and trigram search, keyset indexes over
live active products) and inventory with its CHECK constraints.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in mercato.catalog.models (copied: a revision must not change when the model does).
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(sku, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'B')"
)


def upgrade() -> None:
    op.create_table(
        "catalog_category",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
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
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name=op.f("ck_catalog_category_slug_format")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["catalog_category.id"],
            name=op.f("fk_catalog_category_parent_id_catalog_category"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_category")),
    )
    op.create_index(
        op.f("ix_catalog_category_parent_id"), "catalog_category", ["parent_id"], unique=False
    )
    op.create_index(
        "ix_catalog_category_path",
        "catalog_category",
        ["path"],
        unique=False,
        postgresql_ops={"path": "varchar_pattern_ops"},
    )
    op.create_index(
        "uq_catalog_category_slug_live",
        "catalog_category",
        ["slug"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "catalog_product",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("slug", sa.String(length=160), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("category_id", sa.UUID(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'draft'"), nullable=False
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
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(
                SEARCH_DOCUMENT,
                persisted=True,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_catalog_product_currency_iso_4217")
        ),
        sa.CheckConstraint(
            "jsonb_typeof(attributes) = 'object'", name=op.f("ck_catalog_product_attributes_object")
        ),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name=op.f("ck_catalog_product_slug_format")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'archived')", name=op.f("ck_catalog_product_status")
        ),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_catalog_product_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["catalog_category.id"],
            name=op.f("fk_catalog_product_category_id_catalog_category"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_product")),
    )
    op.create_index(
        "ix_catalog_product_active_created",
        "catalog_product",
        ["created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL AND status = 'active'"),
    )
    op.create_index(
        "ix_catalog_product_active_price",
        "catalog_product",
        ["currency", "price_minor", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL AND status = 'active'"),
    )
    op.create_index(
        op.f("ix_catalog_product_category_id"), "catalog_product", ["category_id"], unique=False
    )
    op.create_index(
        "ix_catalog_product_name_trgm",
        "catalog_product",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_catalog_product_search",
        "catalog_product",
        ["search"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "uq_catalog_product_sku_live",
        "catalog_product",
        ["sku"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "uq_catalog_product_slug_live",
        "catalog_product",
        ["slug"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "catalog_inventory",
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("on_hand", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reserved", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("on_hand >= 0", name=op.f("ck_catalog_inventory_on_hand_not_negative")),
        sa.CheckConstraint(
            "reserved <= on_hand", name=op.f("ck_catalog_inventory_reserved_within_on_hand")
        ),
        sa.CheckConstraint(
            "reserved >= 0", name=op.f("ck_catalog_inventory_reserved_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["catalog_product.id"],
            name=op.f("fk_catalog_inventory_product_id_catalog_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_catalog_inventory")),
    )


def downgrade() -> None:
    op.drop_table("catalog_inventory")
    op.drop_index(
        "uq_catalog_product_slug_live",
        table_name="catalog_product",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(
        "uq_catalog_product_sku_live",
        table_name="catalog_product",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index("ix_catalog_product_search", table_name="catalog_product", postgresql_using="gin")
    op.drop_index(
        "ix_catalog_product_name_trgm",
        table_name="catalog_product",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.drop_index(op.f("ix_catalog_product_category_id"), table_name="catalog_product")
    op.drop_index(
        "ix_catalog_product_active_price",
        table_name="catalog_product",
        postgresql_where=sa.text("deleted_at IS NULL AND status = 'active'"),
    )
    op.drop_index(
        "ix_catalog_product_active_created",
        table_name="catalog_product",
        postgresql_where=sa.text("deleted_at IS NULL AND status = 'active'"),
    )
    op.drop_table("catalog_product")
    op.drop_index(
        "uq_catalog_category_slug_live",
        table_name="catalog_category",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(
        "ix_catalog_category_path",
        table_name="catalog_category",
        postgresql_ops={"path": "varchar_pattern_ops"},
    )
    op.drop_index(op.f("ix_catalog_category_parent_id"), table_name="catalog_category")
    op.drop_table("catalog_category")
