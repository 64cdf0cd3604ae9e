"""Catalog depth: options, variants (the sellable unit: SKU, prices per currency, stock),
images, tags and a product type. Every product becomes a product with one default variant
carrying its SKU, price and stock; the downgrade folds each product's first variant back.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")
LIVE_ACTIVE = sa.text("deleted_at IS NULL AND status = 'active'")
# 0008's generated search document (copied: a revision must not change when code does).
OLD_SEARCH_DOCUMENT = (
    "setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(sku, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'B')"
)
# The denormalised read fields of the migrated products (one default variant each, no
# options, no tags), as `mercato.catalog.summary` writes them.
REFRESH_MIGRATED_PRODUCTS = """
UPDATE catalog_product AS p SET
    in_stock = EXISTS (
        SELECT 1 FROM catalog_variant v JOIN catalog_variant_stock s ON s.variant_id = v.id
        WHERE v.product_id = p.id AND v.deleted_at IS NULL AND v.status = 'active'
          AND s.on_hand > s.reserved),
    search = setweight(to_tsvector('simple'::regconfig, p.name), 'A')
        || setweight(to_tsvector('simple'::regconfig, coalesce((
            SELECT string_agg(v.sku, ' ') FROM catalog_variant v
            WHERE v.product_id = p.id AND v.deleted_at IS NULL), '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, p.description), 'C')
"""
INSERT_FROM_PRICES = """
INSERT INTO catalog_product_price (product_id, currency, from_minor)
SELECT v.product_id, pr.currency, min(pr.amount_minor)
FROM catalog_variant v JOIN catalog_variant_price pr ON pr.variant_id = v.id
WHERE v.deleted_at IS NULL AND v.status = 'active'
GROUP BY v.product_id, pr.currency
"""


def _timestamps() -> list[sa.Column[object]]:
    return [
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
    ]


def upgrade() -> None:
    _create_tables()
    _move_products_into_default_variants()
    _drop_product_level_sellable_columns()


def _create_tables() -> None:
    op.add_column("catalog_product", sa.Column("product_type", sa.String(120), nullable=True))
    op.add_column(
        "catalog_product",
        sa.Column(
            "tags",
            postgresql.ARRAY(sa.String(64)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.add_column(
        "catalog_product",
        sa.Column("in_stock", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "catalog_product",
        sa.Column(
            "option_keys",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.create_check_constraint(
        op.f("ck_catalog_product_tags_bounded"), "catalog_product", "cardinality(tags) <= 50"
    )
    op.create_index("ix_catalog_product_tags", "catalog_product", ["tags"], postgresql_using="gin")
    op.create_index(
        "ix_catalog_product_option_keys",
        "catalog_product",
        ["option_keys"],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_catalog_product_type",
        "catalog_product",
        ["product_type"],
        postgresql_where=sa.text("deleted_at IS NULL AND product_type IS NOT NULL"),
    )

    op.create_table(
        "catalog_product_price",
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("from_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "from_minor >= 0", name=op.f("ck_catalog_product_price_from_not_negative")
        ),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_catalog_product_price_currency_iso_4217")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["catalog_product.id"],
            name=op.f("fk_catalog_product_price_product_id_catalog_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "currency", name=op.f("pk_catalog_product_price")),
    )
    op.create_index(
        "ix_catalog_product_price_currency_from",
        "catalog_product_price",
        ["currency", "from_minor", "product_id"],
    )

    op.create_table(
        "catalog_option",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("values", postgresql.ARRAY(sa.String(64)), nullable=False),
        sa.CheckConstraint(
            "cardinality(values) BETWEEN 1 AND 100", name=op.f("ck_catalog_option_values_bounded")
        ),
        sa.CheckConstraint(
            "position >= 0 AND position < 3", name=op.f("ck_catalog_option_position_range")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["catalog_product.id"],
            name=op.f("fk_catalog_option_product_id_catalog_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_option")),
    )
    op.create_index(
        "uq_catalog_option_product_name",
        "catalog_option",
        ["product_id", sa.text("lower(name)")],
        unique=True,
    )
    op.create_index(
        "uq_catalog_option_product_position",
        "catalog_option",
        ["product_id", "position"],
        unique=True,
    )

    op.create_table(
        "catalog_variant",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column(
            "option_values",
            postgresql.ARRAY(sa.String(64)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("barcode", sa.String(64), nullable=True),
        sa.Column("weight_grams", sa.Integer(), nullable=True),
        sa.Column("length_mm", sa.Integer(), nullable=True),
        sa.Column("width_mm", sa.Integer(), nullable=True),
        sa.Column("height_mm", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), server_default=sa.text("'active'"), nullable=False),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        *_timestamps(),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'archived')", name=op.f("ck_catalog_variant_status")
        ),
        sa.CheckConstraint(
            "weight_grams >= 0 AND length_mm >= 0 AND width_mm >= 0 AND height_mm >= 0",
            name=op.f("ck_catalog_variant_measures_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["catalog_product.id"],
            name=op.f("fk_catalog_variant_product_id_catalog_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_variant")),
    )
    op.create_index(op.f("ix_catalog_variant_product_id"), "catalog_variant", ["product_id"])
    op.create_index(
        "uq_catalog_variant_options_live",
        "catalog_variant",
        ["product_id", "option_values"],
        unique=True,
        postgresql_where=LIVE,
    )

    op.create_table(
        "catalog_variant_price",
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("compare_at_minor", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "amount_minor >= 0", name=op.f("ck_catalog_variant_price_amount_not_negative")
        ),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_catalog_variant_price_currency_iso_4217")
        ),
        sa.CheckConstraint(
            "compare_at_minor > amount_minor",
            name=op.f("ck_catalog_variant_price_compare_at_above_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["catalog_variant.id"],
            name=op.f("fk_catalog_variant_price_variant_id_catalog_variant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("variant_id", "currency", name=op.f("pk_catalog_variant_price")),
    )

    op.create_table(
        "catalog_variant_stock",
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("on_hand", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reserved", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "on_hand >= 0", name=op.f("ck_catalog_variant_stock_on_hand_not_negative")
        ),
        sa.CheckConstraint(
            "reserved <= on_hand", name=op.f("ck_catalog_variant_stock_reserved_within_on_hand")
        ),
        sa.CheckConstraint(
            "reserved >= 0", name=op.f("ck_catalog_variant_stock_reserved_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["catalog_variant.id"],
            name=op.f("fk_catalog_variant_stock_variant_id_catalog_variant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("variant_id", name=op.f("pk_catalog_variant_stock")),
    )

    op.create_table(
        "catalog_image",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("variant_id", sa.UUID(), nullable=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("alt", sa.String(512), server_default=sa.text("''"), nullable=False),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("is_primary", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["catalog_product.id"],
            name=op.f("fk_catalog_image_product_id_catalog_product"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["catalog_variant.id"],
            name=op.f("fk_catalog_image_variant_id_catalog_variant"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_image")),
    )
    op.create_index(op.f("ix_catalog_image_variant_id"), "catalog_image", ["variant_id"])
    op.create_index(
        "ix_catalog_image_product_position", "catalog_image", ["product_id", "position"]
    )
    op.create_index(
        "uq_catalog_image_primary",
        "catalog_image",
        ["product_id"],
        unique=True,
        postgresql_where=sa.text("is_primary"),
    )


def _move_products_into_default_variants() -> None:
    # SKUs become unique case-insensitively: a later live product whose SKU differs from an
    # earlier one's only by case gets a numbered suffix (nothing is refused, nothing lost).
    op.execute(
        """
        UPDATE catalog_product AS p SET sku = left(d.sku, 58) || '-' || d.n
        FROM (SELECT id, sku, row_number() OVER (PARTITION BY lower(sku) ORDER BY created_at, id)
              AS n FROM catalog_product WHERE deleted_at IS NULL) AS d
        WHERE p.id = d.id AND d.n > 1
        """
    )
    op.execute(
        """
        INSERT INTO catalog_variant
            (id, product_id, sku, status, position, version, created_at, updated_at, deleted_at)
        SELECT gen_random_uuid(), id, sku, 'active', 0, 1, created_at, updated_at, deleted_at
        FROM catalog_product
        """
    )
    op.execute(
        """
        INSERT INTO catalog_variant_price (variant_id, currency, amount_minor)
        SELECT v.id, p.currency, p.price_minor
        FROM catalog_product p JOIN catalog_variant v ON v.product_id = p.id
        """
    )
    op.execute(
        """
        INSERT INTO catalog_variant_stock (variant_id, on_hand, reserved, updated_at)
        SELECT v.id, coalesce(i.on_hand, 0), coalesce(i.reserved, 0), coalesce(i.updated_at, now())
        FROM catalog_variant v LEFT JOIN catalog_inventory i ON i.product_id = v.product_id
        """
    )
    op.execute(INSERT_FROM_PRICES)


def _drop_product_level_sellable_columns() -> None:
    op.drop_table("catalog_inventory")
    op.drop_index("ix_catalog_product_search", table_name="catalog_product")
    op.drop_column("catalog_product", "search")
    op.add_column(
        "catalog_product",
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            server_default=sa.text("''::tsvector"),
            nullable=False,
        ),
    )
    op.execute(REFRESH_MIGRATED_PRODUCTS)
    op.create_index(
        "ix_catalog_product_search", "catalog_product", ["search"], postgresql_using="gin"
    )
    op.drop_index(
        "ix_catalog_product_active_price",
        table_name="catalog_product",
        postgresql_where=LIVE_ACTIVE,
    )
    op.drop_index(
        "uq_catalog_product_sku_live", table_name="catalog_product", postgresql_where=LIVE
    )
    op.drop_constraint(op.f("ck_catalog_product_price_not_negative"), "catalog_product")
    op.drop_constraint(op.f("ck_catalog_product_currency_iso_4217"), "catalog_product")
    op.drop_column("catalog_product", "sku")
    op.drop_column("catalog_product", "price_minor")
    op.drop_column("catalog_product", "currency")
    # Created last: the migrated SKUs are unique by now.
    op.create_index(
        "uq_catalog_variant_sku_live",
        "catalog_variant",
        [sa.text("lower(sku)")],
        unique=True,
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    """Each product keeps its first variant's SKU (live ones first, by position) and that
    variant's price in its first currency (alphabetically; 0 EUR if it has none); its stock
    is the sum over its live variants. Options, other variants and prices, images, tags and
    the type are dropped: a downgrade past variants loses what the old model cannot hold."""
    op.add_column("catalog_product", sa.Column("sku", sa.String(64), nullable=True))
    op.add_column("catalog_product", sa.Column("price_minor", sa.BigInteger(), nullable=True))
    op.add_column("catalog_product", sa.Column("currency", sa.String(3), nullable=True))
    op.execute(
        """
        UPDATE catalog_product AS p SET sku = f.sku, price_minor = f.amount, currency = f.currency
        FROM (
            SELECT p2.id,
                   coalesce(v.sku, 'P-' || left(replace(p2.id::text, '-', ''), 20)) AS sku,
                   coalesce(pr.amount_minor, 0) AS amount,
                   coalesce(pr.currency, 'EUR') AS currency
            FROM catalog_product p2
            LEFT JOIN LATERAL (
                SELECT id, sku FROM catalog_variant WHERE product_id = p2.id
                ORDER BY deleted_at IS NOT NULL, position, id LIMIT 1) AS v ON true
            LEFT JOIN LATERAL (
                SELECT amount_minor, currency FROM catalog_variant_price WHERE variant_id = v.id
                ORDER BY currency LIMIT 1) AS pr ON true
        ) AS f
        WHERE p.id = f.id
        """
    )
    # A live product whose variants are all deleted may carry a SKU another live product
    # uses: number the later ones, as the upgrade does.
    op.execute(
        """
        UPDATE catalog_product AS p SET sku = left(d.sku, 58) || '-' || d.n
        FROM (SELECT id, sku, row_number() OVER (PARTITION BY sku ORDER BY created_at, id)
              AS n FROM catalog_product WHERE deleted_at IS NULL) AS d
        WHERE p.id = d.id AND d.n > 1
        """
    )
    for column in ("sku", "price_minor", "currency"):
        op.alter_column("catalog_product", column, nullable=False)
    op.create_check_constraint(
        op.f("ck_catalog_product_price_not_negative"), "catalog_product", "price_minor >= 0"
    )
    op.create_check_constraint(
        op.f("ck_catalog_product_currency_iso_4217"), "catalog_product", "currency ~ '^[A-Z]{3}$'"
    )
    op.create_index(
        "uq_catalog_product_sku_live",
        "catalog_product",
        ["sku"],
        unique=True,
        postgresql_where=LIVE,
    )
    op.create_index(
        "ix_catalog_product_active_price",
        "catalog_product",
        ["currency", "price_minor", "id"],
        postgresql_where=LIVE_ACTIVE,
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
    # Sums capped at the old limit of one product's stock (reserved within on hand).
    op.execute(
        """
        INSERT INTO catalog_inventory (product_id, on_hand, reserved, updated_at)
        SELECT p.id, least(coalesce(s.on_hand, 0), 1000000000),
               least(coalesce(s.reserved, 0), coalesce(s.on_hand, 0), 1000000000),
               coalesce(s.updated_at, now())
        FROM catalog_product p LEFT JOIN (
            SELECT v.product_id, sum(st.on_hand) AS on_hand, sum(st.reserved) AS reserved,
                   max(st.updated_at) AS updated_at
            FROM catalog_variant v JOIN catalog_variant_stock st ON st.variant_id = v.id
            WHERE v.deleted_at IS NULL GROUP BY v.product_id) AS s ON s.product_id = p.id
        """
    )
    op.drop_index("ix_catalog_product_search", table_name="catalog_product")
    op.drop_column("catalog_product", "search")
    op.add_column(
        "catalog_product",
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(OLD_SEARCH_DOCUMENT, persisted=True),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_catalog_product_search", "catalog_product", ["search"], postgresql_using="gin"
    )
    op.drop_table("catalog_image")
    op.drop_table("catalog_variant_stock")
    op.drop_table("catalog_variant_price")
    op.drop_table("catalog_variant")
    op.drop_table("catalog_option")
    op.drop_table("catalog_product_price")
    op.drop_index(
        "ix_catalog_product_type",
        table_name="catalog_product",
        postgresql_where=sa.text("deleted_at IS NULL AND product_type IS NOT NULL"),
    )
    op.drop_index("ix_catalog_product_option_keys", table_name="catalog_product")
    op.drop_index("ix_catalog_product_tags", table_name="catalog_product")
    op.drop_constraint(op.f("ck_catalog_product_tags_bounded"), "catalog_product")
    for column in ("option_keys", "in_stock", "tags", "product_type"):
        op.drop_column("catalog_product", column)
