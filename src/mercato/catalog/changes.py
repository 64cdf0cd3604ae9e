"""Publishing a catalog change: the event for other processes and contexts, and the note
for this process's commit listeners (cached reads retire right after the commit)."""

from __future__ import annotations

import uuid

from mercato.catalog.cache import CATALOG_CHANGED
from mercato.catalog.errors import ProductNotFound
from mercato.catalog.events import CategoryChanged, ProductChanged
from mercato.catalog.models import Product
from mercato.catalog.repository import CatalogRepository
from mercato.catalog.summary import refresh_product
from mercato.platform.clock import utc_now
from mercato.platform.db.changes import changes_of
from mercato.platform.db.uow import UnitOfWork


def publish_change(
    uow: UnitOfWork, event: ProductChanged | CategoryChanged, *, aggregate_id: uuid.UUID
) -> None:
    changes_of(uow.session).note(CATALOG_CHANGED, aggregate_id)
    uow.publish(event, aggregate_id=aggregate_id)


async def locked_product(catalog: CatalogRepository, product_id: uuid.UUID) -> Product:
    """The live product, its row locked for the use case (404 if there is none)."""
    product = await catalog.product_for_update(product_id)
    if product is None:
        raise ProductNotFound()
    return product


async def product_changed(uow: UnitOfWork, product: Product, *, slugs: set[str]) -> None:
    """After any change under a product (its variants, options, prices, images): a new
    version, its read fields recomputed, the change published. The product row is locked."""
    product.version += 1
    product.updated_at = utc_now()
    await uow.session.flush()
    await refresh_product(uow.session, product.id)
    publish_change(
        uow,
        ProductChanged(
            product_id=product.id, slugs=sorted(slugs | {product.slug}), change="updated"
        ),
        aggregate_id=product.id,
    )
