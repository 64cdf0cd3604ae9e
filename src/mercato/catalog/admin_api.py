"""Catalog administration (permission `catalog:write`): products, categories, stock."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from mercato.catalog import categories, products, stock
from mercato.catalog.api import category_out
from mercato.catalog.auth import CatalogEditor
from mercato.catalog.errors import CategoryNotFound, ProductNotFound
from mercato.catalog.models import Category, VariantStock
from mercato.catalog.reads import product_document
from mercato.catalog.repository import CatalogReads
from mercato.catalog.schemas import (
    CategoryIn,
    CategoryOut,
    CategoryPatchIn,
    InventoryAdjustIn,
    InventoryOut,
    InventorySetIn,
    ProductIn,
    ProductOut,
    ProductPatchIn,
)
from mercato.platform.concurrency import ExpectedVersion, version_etag
from mercato.platform.db.database import Database
from mercato.platform.deps import DatabaseDep, UnitOfWorkDep
from mercato.platform.errors import Invalid
from mercato.platform.idempotency import idempotent

router = APIRouter(prefix="/api/v1/admin", tags=["catalog administration"])

IfMatch = Annotated[str | None, Header(max_length=200)]


async def _product(database: Database, product_id: uuid.UUID) -> ProductOut:
    """Read on the primary: the editor must see their own write (read-your-writes)."""
    async with database.session() as session:
        row = await CatalogReads(session).product_row(product_id=product_id, live_only=False)
    if row is None:
        raise ProductNotFound()
    return ProductOut.model_validate(product_document(dict(row._mapping)))


def _versioned(resource: ProductOut | CategoryOut, *, status_code: int = 200) -> JSONResponse:
    """The representation with its version as ETag (what If-Match wants back)."""
    return JSONResponse(
        resource.model_dump(mode="json"),
        status_code=status_code,
        headers={"ETag": version_etag(resource.version)},
    )


@router.post(
    "/products",
    status_code=201,
    response_model=ProductOut,
    summary="Create a product (accepts Idempotency-Key)",
)
async def create_product(
    body: ProductIn,
    editor: CatalogEditor,
    request: Request,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
) -> Response:
    async with idempotent(request, database, scope=f"user:{editor.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        product_id = await products.create_product(body, uow=uow)
        created = _versioned(await _product(database, product_id), status_code=201)
        created.headers["Location"] = f"/api/v1/admin/products/{product_id}"
        return await guard.finish(created)


@router.get(
    "/products/{product_id}",
    response_model=ProductOut,
    summary="Any product that is not deleted (drafts and archived ones included)",
)
async def admin_product(
    product_id: uuid.UUID, editor: CatalogEditor, database: DatabaseDep
) -> Response:
    return _versioned(await _product(database, product_id))


@router.patch("/products/{product_id}", response_model=ProductOut)
async def update_product(
    *,
    product_id: uuid.UUID,
    body: ProductPatchIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    if_match: IfMatch = None,
) -> Response:
    """Change fields (archive: `status: archived`). Needs If-Match (412) or version (409)."""
    await products.update_product(
        product_id=product_id,
        changes=body,
        expected=ExpectedVersion.from_request(if_match=if_match, body_version=body.version),
        uow=uow,
    )
    return _versioned(await _product(database, product_id))


@router.delete("/products/{product_id}", status_code=204)
async def delete_product(
    product_id: uuid.UUID, editor: CatalogEditor, uow: UnitOfWorkDep
) -> Response:
    """Soft delete: gone from every list and page; its SKU and slug are free again."""
    await products.delete_product(product_id=product_id, uow=uow)
    return Response(status_code=204)


async def _only_variant(database: Database, product_id: uuid.UUID) -> uuid.UUID:
    async with database.session() as session:
        variant_ids = await CatalogReads(session).live_variant_ids(product_id)
    if not variant_ids:
        raise ProductNotFound()
    if len(variant_ids) > 1:
        raise Invalid("The product has several variants: set the stock of each variant.")
    return variant_ids[0]


def _inventory_out(product_id: uuid.UUID, inventory: VariantStock) -> InventoryOut:
    return InventoryOut(
        product_id=product_id,
        on_hand=inventory.on_hand,
        reserved=inventory.reserved,
        available=inventory.on_hand - inventory.reserved,
    )


@router.put("/products/{product_id}/inventory", response_model=InventoryOut)
async def set_inventory(
    product_id: uuid.UUID,
    body: InventorySetIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
) -> InventoryOut:
    """Set the units on hand of a product's only variant (409 below what is reserved)."""
    variant_id = await _only_variant(database, product_id)
    return _inventory_out(
        product_id, await stock.set_stock(variant_id=variant_id, on_hand=body.on_hand, uow=uow)
    )


@router.post("/products/{product_id}/inventory/adjust", response_model=InventoryOut)
async def adjust_inventory(
    product_id: uuid.UUID,
    body: InventoryAdjustIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
) -> InventoryOut:
    """Add or remove units of a product's only variant atomically (409 if that goes below
    what is reserved)."""
    variant_id = await _only_variant(database, product_id)
    return _inventory_out(
        product_id, await stock.adjust_stock(variant_id=variant_id, delta=body.delta, uow=uow)
    )


# --- categories ------------------------------------------------------------------------


async def _category(database: Database, category_id: uuid.UUID) -> CategoryOut:
    async with database.session() as session:
        live = await CatalogReads(session).live_categories()
    by_id: dict[uuid.UUID, Category] = {category.id: category for category in live}
    category = by_id.get(category_id)
    if category is None:
        raise CategoryNotFound()
    return category_out(category, by_id.get(category.parent_id) if category.parent_id else None)


@router.post(
    "/categories",
    status_code=201,
    response_model=CategoryOut,
    summary="Create a category (accepts Idempotency-Key)",
)
async def create_category(
    body: CategoryIn,
    editor: CatalogEditor,
    request: Request,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
) -> Response:
    async with idempotent(request, database, scope=f"user:{editor.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        category_id = await categories.create_category(body, uow=uow)
        created = _versioned(await _category(database, category_id), status_code=201)
        created.headers["Location"] = f"/api/v1/categories/{body.slug}"
        return await guard.finish(created)


@router.patch("/categories/{category_id}", response_model=CategoryOut)
async def update_category(
    *,
    category_id: uuid.UUID,
    body: CategoryPatchIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    if_match: IfMatch = None,
) -> Response:
    """Rename, re-slug, reorder or move (`parent`: a slug, or null for the root)."""
    await categories.update_category(
        category_id=category_id,
        changes=body,
        expected=ExpectedVersion.from_request(if_match=if_match, body_version=body.version),
        uow=uow,
    )
    return _versioned(await _category(database, category_id))


@router.delete("/categories/{category_id}", status_code=204)
async def delete_category(
    category_id: uuid.UUID, editor: CatalogEditor, uow: UnitOfWorkDep
) -> Response:
    """Soft delete; 409 while live products or subcategories are in it."""
    await categories.delete_category(category_id=category_id, uow=uow)
    return Response(status_code=204)
