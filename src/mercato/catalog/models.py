"""Catalog tables (prefixed `catalog_`): categories (a tree), products, inventory."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mercato.platform.db.metadata import Base

PRODUCT_STATUSES = ("draft", "active", "archived")
# The most units of one product on hand: well inside `catalog_inventory.on_hand` (a 32-bit
# integer), so adjustments can be refused by a comparison, never by an overflow.
MAX_ON_HAND = 10**9
# Weighted document for full-text search: the name counts more than the description. The
# 'simple' configuration (no stemming, no stop words) suits product names in any language;
# `websearch_to_tsquery('simple', q)` is used against it.
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(sku, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'B')"
)


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
    sku: Mapped[str] = mapped_column(String(64))
    slug: Mapped[str] = mapped_column(String(160))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
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
    # Only ever used inside SQL: deferred, so loading a product never ships its tsvector.
    search: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(SEARCH_DOCUMENT, persisted=True), deferred=True
    )

    __table_args__ = (
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso_4217"),
        CheckConstraint(f"status IN {PRODUCT_STATUSES}", name="status"),
        CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="slug_format"),
        CheckConstraint("jsonb_typeof(attributes) = 'object'", name="attributes_object"),
        # Unique among live products: a deleted product frees its SKU and slug.
        Index(
            "uq_catalog_product_sku_live",
            "sku",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
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
        Index(
            "ix_catalog_product_active_price",
            "currency",
            "price_minor",
            "id",
            postgresql_where=text("deleted_at IS NULL AND status = 'active'"),
        ),
    )


class Inventory(Base):
    """Stock of one product: `reserved` units are promised to orders not yet shipped."""

    __tablename__ = "catalog_inventory"

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_product.id", ondelete="CASCADE"), primary_key=True
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
