"""Catalog use cases: one transaction each; every change publishes an event (caches and
other contexts follow the catalog through them)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError

from mercato.catalog.cache import CATALOG_CHANGED
from mercato.catalog.errors import (
    CategoryCycle,
    CategoryInUse,
    CategoryNotFound,
    DuplicateCategory,
    DuplicateProduct,
    InsufficientStock,
    ProductNotFound,
    StockLimitExceeded,
)
from mercato.catalog.events import CategoryChanged, ProductChanged
from mercato.catalog.models import MAX_ON_HAND, Category, Inventory, Product
from mercato.catalog.repository import CatalogRepository
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import Invalid
from mercato.platform.ids import uuid7

_UNIQUE_VIOLATION = "23505"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _unknown_category(slug: str) -> Invalid:
    return Invalid(
        f"There is no category {slug!r}.",
        errors=[{"in": "body", "pointer": "/category", "detail": "unknown category"}],
    )


def publish_change(
    uow: UnitOfWork, event: ProductChanged | CategoryChanged, *, aggregate_id: uuid.UUID
) -> None:
    """Publish a catalog change, and note it for the commit listeners (cache generations)."""
    uow.session.info[CATALOG_CHANGED] = True
    uow.publish(event, aggregate_id=aggregate_id)


async def _flush(uow: UnitOfWork, *, conflict: type[DuplicateProduct | DuplicateCategory]) -> None:
    """Write pending changes now; a unique index (live SKU, slug) refusing them is a 409."""
    try:
        await uow.session.flush()
    except IntegrityError as error:
        if getattr(error.orig, "sqlstate", None) == _UNIQUE_VIOLATION:
            raise conflict() from None
        raise


# --- products ----------------------------------------------------------------------------


def new_product(data: Mapping[str, Any], *, category_id: uuid.UUID | None) -> Product:
    """A product row from the fields of `ProductIn` (the category already resolved)."""
    return Product(
        id=uuid7(),
        sku=data["sku"],
        slug=data["slug"],
        name=data["name"],
        description=data.get("description", ""),
        price_minor=data["price_minor"],
        currency=data["currency"],
        category_id=category_id,
        attributes=data.get("attributes", {}),
        status=data.get("status", "draft"),
    )


async def create_product(*, data: Mapping[str, Any], uow: UnitOfWork) -> uuid.UUID:
    """A product and its inventory row; 409 if a live product has the SKU or slug."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        category_id = None
        if data.get("category") is not None:
            category_id = await catalog.category_id_by_slug(data["category"])
            if category_id is None:
                raise _unknown_category(data["category"])
        product = new_product(data, category_id=category_id)
        uow.session.add(product)
        await _flush(uow, conflict=DuplicateProduct)
        # Flushed after the product: without relationships, the flush order is not implied.
        uow.session.add(Inventory(product_id=product.id, on_hand=data.get("on_hand", 0)))
        await uow.session.flush()
        publish_change(
            uow,
            ProductChanged(product_id=product.id, slugs=[product.slug], change="created"),
            aggregate_id=product.id,
        )
        await uow.commit()
    return product.id


async def update_product(
    *,
    product_id: uuid.UUID,
    changes: Mapping[str, Any],
    expected: ExpectedVersion,
    uow: UnitOfWork,
) -> None:
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await catalog.product_for_update(product_id)
        if product is None:
            raise ProductNotFound()
        expected.check(product.version)
        slugs = {product.slug}
        for name, value in changes.items():
            if name == "category":
                category_id = None
                if value is not None:
                    category_id = await catalog.category_id_by_slug(value)
                    if category_id is None:
                        raise _unknown_category(value)
                product.category_id = category_id
            else:
                setattr(product, name, value)
        if changes:
            product.version += 1
            product.updated_at = _now()
            await _flush(uow, conflict=DuplicateProduct)
            slugs.add(product.slug)
            publish_change(
                uow,
                ProductChanged(product_id=product.id, slugs=sorted(slugs), change="updated"),
                aggregate_id=product.id,
            )
        await uow.commit()


async def delete_product(*, product_id: uuid.UUID, uow: UnitOfWork) -> None:
    """Soft delete: invisible everywhere, SKU and slug free again; the row stays for the
    orders that reference it."""
    async with uow:
        product = await CatalogRepository(uow.session).product_for_update(product_id)
        if product is None:
            raise ProductNotFound()
        product.deleted_at = _now()
        product.updated_at = product.deleted_at
        product.version += 1
        publish_change(
            uow,
            ProductChanged(product_id=product.id, slugs=[product.slug], change="deleted"),
            aggregate_id=product.id,
        )
        await uow.commit()


async def set_stock(*, product_id: uuid.UUID, on_hand: int, uow: UnitOfWork) -> Inventory:
    async with uow:
        catalog = CatalogRepository(uow.session)
        if await catalog.product_for_update(product_id) is None:
            raise ProductNotFound()
        inventory = await catalog.set_on_hand(product_id, on_hand)
        if inventory is None:
            raise InsufficientStock("On hand cannot go below the units already reserved.")
        await _stock_changed(uow, catalog, product_id)
        await uow.commit()
    return inventory


async def adjust_stock(*, product_id: uuid.UUID, delta: int, uow: UnitOfWork) -> Inventory:
    """`on_hand += delta` in one statement (concurrent adjustments never lose updates)."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        if await catalog.inventory(product_id) is None:
            raise ProductNotFound()
        inventory = await catalog.adjust_on_hand(product_id, delta)
        if inventory is None and delta > 0:
            raise StockLimitExceeded(f"On hand cannot go above {MAX_ON_HAND} units.")
        if inventory is None:
            raise InsufficientStock("On hand cannot go below the units already reserved.")
        await _stock_changed(uow, catalog, product_id)
        await uow.commit()
    return inventory


async def _stock_changed(
    uow: UnitOfWork, catalog: CatalogRepository, product_id: uuid.UUID
) -> None:
    row = await catalog.product_row(product_id=product_id, live_only=False)
    slugs = [row.slug] if row is not None else []
    publish_change(
        uow,
        ProductChanged(product_id=product_id, slugs=slugs, change="stock"),
        aggregate_id=product_id,
    )


# --- categories ------------------------------------------------------------------------


async def create_category(*, data: Mapping[str, Any], uow: UnitOfWork) -> uuid.UUID:
    async with uow:
        catalog = CatalogRepository(uow.session)
        category_id = uuid7()
        parent_path = "/"
        parent_id = None
        if data.get("parent") is not None:
            parent = await catalog.category_by_slug(data["parent"])
            if parent is None:
                raise CategoryNotFound(f"There is no category {data['parent']!r}.")
            parent_path, parent_id = parent.path, parent.id
        category = Category(
            id=category_id,
            parent_id=parent_id,
            slug=data["slug"],
            name=data["name"],
            position=data.get("position", 0),
            path=f"{parent_path}{category_id.hex}/",
        )
        uow.session.add(category)
        await _flush(uow, conflict=DuplicateCategory)
        publish_change(
            uow,
            CategoryChanged(category_id=category_id, slugs=[category.slug], change="created"),
            aggregate_id=category_id,
        )
        await uow.commit()
    return category_id


async def update_category(
    *,
    category_id: uuid.UUID,
    changes: Mapping[str, Any],
    expected: ExpectedVersion,
    uow: UnitOfWork,
) -> None:
    async with uow:
        catalog = CatalogRepository(uow.session)
        category = await catalog.category_for_update(category_id)
        if category is None:
            raise CategoryNotFound()
        expected.check(category.version)
        slugs = {category.slug}
        if "parent" in changes:
            await _move(catalog, category, changes["parent"])
        for name in ("slug", "name", "position"):
            if changes.get(name) is not None:
                setattr(category, name, changes[name])
        if changes:
            category.version += 1
            category.updated_at = _now()
            await _flush(uow, conflict=DuplicateCategory)
            slugs.add(category.slug)
            publish_change(
                uow,
                CategoryChanged(category_id=category.id, slugs=sorted(slugs), change="updated"),
                aggregate_id=category.id,
            )
        await uow.commit()


async def _move(catalog: CatalogRepository, category: Category, parent_slug: str | None) -> None:
    """Re-hang the category (and its subtree) under another parent, or at the root."""
    parent = None
    if parent_slug is not None:
        parent = await catalog.category_by_slug(parent_slug)
        if parent is None:
            raise CategoryNotFound(f"There is no category {parent_slug!r}.")
        if parent.path.startswith(category.path):
            raise CategoryCycle("A category cannot be moved under itself or its descendants.")
    new_path = f"{parent.path if parent else '/'}{category.id.hex}/"
    if new_path != category.path:
        await catalog.move_subtree(old_prefix=category.path, new_prefix=new_path)
    category.parent_id = parent.id if parent else None
    category.path = new_path


async def delete_category(*, category_id: uuid.UUID, uow: UnitOfWork) -> None:
    async with uow:
        catalog = CatalogRepository(uow.session)
        category = await catalog.category_for_update(category_id)
        if category is None:
            raise CategoryNotFound()
        if await catalog.category_in_use(category_id):
            raise CategoryInUse("Move or delete its products and subcategories first.")
        category.deleted_at = _now()
        category.version += 1
        publish_change(
            uow,
            CategoryChanged(category_id=category.id, slugs=[category.slug], change="deleted"),
            aggregate_id=category.id,
        )
        await uow.commit()
