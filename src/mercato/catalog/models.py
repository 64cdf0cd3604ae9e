"""Catalog tables (prefixed `catalog_`): categories (a tree), products with their options,
variants (the sellable units: SKU, prices per currency, stock), images and tags.

A product's read fields (`in_stock`, `option_keys`, `search`, its from-prices) are
denormalised from its variants and kept current by the write that changes them, in the
same transaction (`summary.py`): the public list reads one row per product.
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
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mercato.platform.db.metadata import Base

PRODUCT_STATUSES = ("draft", "active", "archived")
VARIANT_STATUSES = ("active", "archived")
# The most units of one variant on hand: well inside `catalog_variant_stock.on_hand` (a
# 32-bit integer), so adjustments can be refused by a comparison, never by an overflow.
MAX_ON_HAND = 10**9
# Shopify's limit, and what keeps a variant's option keys (every subset of its option
# values, `summary.option_keys`) at 7 or fewer.
MAX_OPTIONS = 3


class Category(Base):
    """A node of the category tree. `path` lists the ids from the root down to this node
    (`/<root>/<child>/`), so a subtree is one indexed prefix match."""

    __tablename__ = "catalog_category"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalog_category.id", ondelete="RESTRICT"), index=True
    )
    slug: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(1000))
    position: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="slug_format"),
        Index(
            "uq_catalog_category_slug_live",
            "slug",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # Subtree = `path LIKE '<prefix>%'`: a b-tree with pattern ops serves the prefix.
        Index(
            "ix_catalog_category_path",
            "path",
            postgresql_ops={"path": "varchar_pattern_ops"},
        ),
    )


class Product(Base):
    __tablename__ = "catalog_product"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    slug: Mapped[str] = mapped_column(String(160))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    product_type: Mapped[str | None] = mapped_column(String(120))
    # Normalised (`schemas.normalise_tag`: trimmed, lower case, single spaces).
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default=text("'{}'"))
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalog_category.id", ondelete="RESTRICT"), index=True
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'draft'"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Denormalised from the live active variants (`summary.py`), in the writing transaction:
    # any variant with units available; every option key a variant offers (`size=m`,
    # `colour=red&size=m`: an option filter is one GIN containment); the weighted search
    # document (names and SKUs A, option values and tags B, description C).
    in_stock: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    option_keys: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    # Only ever used inside SQL: deferred, so loading a product never ships its tsvector.
    search: Mapped[Any] = mapped_column(
        TSVECTOR, server_default=text("''::tsvector"), deferred=True
    )

    __table_args__ = (
        CheckConstraint(f"status IN {PRODUCT_STATUSES}", name="status"),
        CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="slug_format"),
        CheckConstraint("jsonb_typeof(attributes) = 'object'", name="attributes_object"),
        CheckConstraint("cardinality(tags) <= 50", name="tags_bounded"),
        # Unique among live products: a deleted product frees its slug.
        Index(
            "uq_catalog_product_slug_live",
            "slug",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_catalog_product_search", "search", postgresql_using="gin"),
        Index(
            "ix_catalog_product_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        # The public list's orders, over live active products (keyset pages).
        Index(
            "ix_catalog_product_active_created",
            "created_at",
            "id",
            postgresql_where=text("deleted_at IS NULL AND status = 'active'"),
        ),
        Index("ix_catalog_product_tags", "tags", postgresql_using="gin"),
        Index("ix_catalog_product_option_keys", "option_keys", postgresql_using="gin"),
        Index(
            "ix_catalog_product_type",
            "product_type",
            postgresql_where=text("deleted_at IS NULL AND product_type IS NOT NULL"),
        ),
    )


class ProductPrice(Base):
    """A product's "from" price in one currency: the least price of its live active
    variants (`summary.py` keeps it). The list sorts and filters by it, by index."""

    __tablename__ = "catalog_product_price"

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_product.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    from_minor: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("from_minor >= 0", name="from_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso_4217"),
        Index("ix_catalog_product_price_currency_from", "currency", "from_minor", "product_id"),
    )


class SearchWord(Base):
    """A word of some product's name: the vocabulary a misspelt query word is corrected
    against (`search.py`). Kept by triggers on `catalog_product` (revision 0015)."""

    __tablename__ = "catalog_search_word"

    word: Mapped[str] = mapped_column(Text, primary_key=True)

    __table_args__ = (
        Index(
            "ix_catalog_search_word_trgm",
            "word",
            postgresql_using="gin",
            postgresql_ops={"word": "gin_trgm_ops"},
        ),
    )


class ProductOption(Base):
    """An option of a product (Size: S, M, L), its values in display order. A variant holds
    one value per option, in the options' `position` order."""

    __tablename__ = "catalog_option"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_product.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    values: Mapped[list[str]] = mapped_column(ARRAY(String(64)))

    __table_args__ = (
        CheckConstraint("cardinality(values) BETWEEN 1 AND 100", name="values_bounded"),
        CheckConstraint(f"position >= 0 AND position < {MAX_OPTIONS}", name="position_range"),
        Index("uq_catalog_option_product_name", "product_id", text("lower(name)"), unique=True),
        Index("uq_catalog_option_product_position", "product_id", "position", unique=True),
    )


class Variant(Base):
    """A sellable unit of a product (size M in red): what carts, orders and stock refer to.
    A product without options has one default variant (no option values)."""

    __tablename__ = "catalog_variant"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_product.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(64))
    option_values: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default=text("'{}'"))
    barcode: Mapped[str | None] = mapped_column(String(64))
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    length_mm: Mapped[int | None] = mapped_column(Integer)
    width_mm: Mapped[int | None] = mapped_column(Integer)
    height_mm: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'active'"))
    position: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"status IN {VARIANT_STATUSES}", name="status"),
        CheckConstraint(
            "weight_grams >= 0 AND length_mm >= 0 AND width_mm >= 0 AND height_mm >= 0",
            name="measures_not_negative",
        ),
        # Unique among live variants, whatever the case: `abc-1` and `ABC-1` are one SKU to
        # a warehouse. A deleted variant frees its SKU.
        Index(
            "uq_catalog_variant_sku_live",
            text("lower(sku)"),
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index(
            "uq_catalog_variant_options_live",
            "product_id",
            "option_values",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )


class VariantPrice(Base):
    """A variant's price in one currency, optionally with the higher compare-at price."""

    __tablename__ = "catalog_variant_price"

    variant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_variant.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    compare_at_minor: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso_4217"),
        CheckConstraint("compare_at_minor > amount_minor", name="compare_at_above_amount"),
    )


class VariantStock(Base):
    """Stock of one variant: `reserved` units are promised to orders not yet shipped."""

    __tablename__ = "catalog_variant_stock"

    variant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_variant.id", ondelete="CASCADE"), primary_key=True
    )
    on_hand: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    reserved: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    )


class ProductImage(Base):
    """An image of a product, optionally of one variant; one image is the primary one."""

    __tablename__ = "catalog_image"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_product.id", ondelete="CASCADE")
    )
    variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalog_variant.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    alt: Mapped[str] = mapped_column(String(512), server_default=text("''"))
    position: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        Index("ix_catalog_image_product_position", "product_id", "position"),
        # At most one primary image per product (the list's card joins it by this index).
        Index(
            "uq_catalog_image_primary",
            "product_id",
            unique=True,
            postgresql_where=text("is_primary"),
        ),
    )
