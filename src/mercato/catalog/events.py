"""Events the catalog publishes (contracts, version 1); caches are invalidated by them."""

from __future__ import annotations

import uuid

from mercato.platform.events.contracts import EventPayload


class ProductChanged(EventPayload):
    """A product was created, changed, archived or deleted, or its stock changed."""

    name = "catalog.product.changed"
    version = 1
    aggregate_type = "catalog.product"

    product_id: uuid.UUID
    slugs: list[str]  # every slug the product was reachable by before and after
    change: str  # created | updated | deleted | stock | stock_level (availability unchanged)


class CategoryChanged(EventPayload):
    name = "catalog.category.changed"
    version = 1
    aggregate_type = "catalog.category"

    category_id: uuid.UUID
    slugs: list[str]
    change: str


CONTRACTS: tuple[type[EventPayload], ...] = (ProductChanged, CategoryChanged)
