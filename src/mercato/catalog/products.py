"""Catalog administration of products: create, change, soft-delete. One transaction each;
every change publishes an event (caches and other contexts follow the catalog by them)."""

from __future__ import annotations

import uuid

from mercato.catalog.changes import publish_change
from mercato.catalog.errors import DuplicateProduct, ProductNotFound
from mercato.catalog.events import ProductChanged
from mercato.catalog.models import Inventory, Product
from mercato.catalog.repository import CatalogReads, CatalogRepository
from mercato.catalog.schemas import ProductIn, ProductPatchIn
from mercato.platform.clock import utc_now
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import Invalid
from mercato.platform.ids import uuid7


def unknown_category(slug: str) -> Invalid:
    return Invalid(
        f"There is no category {slug!r}.",
        errors=[{"in": "body", "pointer": "/category", "detail": "unknown category"}],
    )


async def category_id_of(catalog: CatalogReads, slug: str | None) -> uuid.UUID | None:
    """The live category with `slug` (None for no category); 422 if there is none."""
    if slug is None:
        return None
    category_id = await catalog.category_id_by_slug(slug)
    if category_id is None:
        raise unknown_category(slug)
    return category_id


def new_product(product: ProductIn, *, category_id: uuid.UUID | None) -> Product:
    """A product row (its category already resolved)."""
    return Product(
        id=uuid7(),
        sku=product.sku,
        slug=product.slug,
        name=product.name,
        description=product.description,
        price_minor=product.price_minor,
        currency=product.currency,
        category_id=category_id,
        attributes=product.attributes,
        status=product.status,
    )


async def create_product(product: ProductIn, *, uow: UnitOfWork) -> uuid.UUID:
    """A product and its inventory row; 409 if a live product has the SKU or slug."""
    async with uow:
        catalog = CatalogRepository(uow.session)
        row = new_product(product, category_id=await category_id_of(catalog, product.category))
        catalog.add(row)
        await catalog.flush_or_conflict(DuplicateProduct)
        # Flushed after the product: without relationships, the flush order is not implied.
        catalog.add(Inventory(product_id=row.id, on_hand=product.on_hand))
        await uow.session.flush()
        publish_change(
            uow,
            ProductChanged(product_id=row.id, slugs=[row.slug], change="created"),
            aggregate_id=row.id,
        )
        await uow.commit()
    return row.id


async def update_product(
    *,
    product_id: uuid.UUID,
    changes: ProductPatchIn,
    expected: ExpectedVersion,
    uow: UnitOfWork,
) -> None:
    """Apply the fields sent in `changes` (null clears only the category)."""
    sent = changes.sent_fields()
    async with uow:
        catalog = CatalogRepository(uow.session)
        product = await catalog.product_for_update(product_id)
        if product is None:
            raise ProductNotFound()
        expected.check(product.version)
        slugs = {product.slug}
        for name in sent:
            if name == "category":
                product.category_id = await category_id_of(catalog, changes.category)
            else:
                setattr(product, name, getattr(changes, name))
        if sent:
            product.version += 1
            product.updated_at = utc_now()
            await catalog.flush_or_conflict(DuplicateProduct)
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
        product.deleted_at = utc_now()
        product.updated_at = product.deleted_at
        product.version += 1
        publish_change(
            uow,
            ProductChanged(product_id=product.id, slugs=[product.slug], change="deleted"),
            aggregate_id=product.id,
        )
        await uow.commit()
