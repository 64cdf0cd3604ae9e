"""Catalog administration of products, their variants and the variants' prices
(permission `catalog:write`)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from mercato.catalog import products, variants
from mercato.catalog.admin_common import (
    CurrencyCode,
    IfMatch,
    PageParams,
    expected_version,
    known_currency,
    product_answer,
    product_out,
    variant_out,
    versioned,
)
from mercato.catalog.auth import CatalogDep, CatalogEditor
from mercato.catalog.schemas import ProductOut, VariantOut
from mercato.catalog.write_schemas import (
    PricePutIn,
    ProductIn,
    ProductPatchIn,
    VariantIn,
    VariantPatchIn,
)
from mercato.platform.deps import DatabaseDep, UnitOfWorkDep
from mercato.platform.idempotency import idempotent

router = APIRouter(prefix="/api/v1/admin", tags=["catalog administration"])


# --- products ----------------------------------------------------------------------------


@router.post(
    "/products",
    status_code=201,
    response_model=ProductOut,
    summary="Create a product with its options, variants and images (accepts Idempotency-Key)",
)
async def create_product(
    *,
    body: ProductIn,
    editor: CatalogEditor,
    request: Request,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    async with idempotent(request, database, scope=f"user:{editor.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        product_id = await products.create_product(
            body, uow=uow, media_base=catalog.settings.media_base_url
        )
        created = await product_answer(database, catalog, product_id, status_code=201)
        created.headers["Location"] = f"/api/v1/admin/products/{product_id}"
        return await guard.finish(created)


@router.get(
    "/products/{product_id}",
    response_model=ProductOut,
    summary="Any product that is not deleted (drafts and archived ones included)",
)
async def admin_product(
    product_id: uuid.UUID,
    params: PageParams,
    editor: CatalogEditor,
    database: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    currency = params.currency or catalog.settings.default_currency
    return versioned(await product_out(database, product_id, currency=currency))


@router.patch("/products/{product_id}", response_model=ProductOut)
async def update_product(
    *,
    product_id: uuid.UUID,
    body: ProductPatchIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
    if_match: IfMatch = None,
) -> Response:
    """Change fields (archive: `status: archived`). Needs If-Match (412) or version (409)."""
    await products.update_product(
        product_id=product_id,
        changes=body,
        expected=expected_version(if_match, body.version),
        uow=uow,
    )
    return await product_answer(database, catalog, product_id)


@router.delete("/products/{product_id}", status_code=204)
async def delete_product(
    product_id: uuid.UUID, editor: CatalogEditor, uow: UnitOfWorkDep
) -> Response:
    """Soft delete: gone from every list and page; its slug and SKUs are free again."""
    await products.delete_product(product_id=product_id, uow=uow)
    return Response(status_code=204)


# --- variants and their prices -------------------------------------------------------------


@router.post(
    "/products/{product_id}/variants",
    status_code=201,
    response_model=VariantOut,
    summary="Add a variant (accepts Idempotency-Key)",
)
async def add_variant(
    *,
    product_id: uuid.UUID,
    body: VariantIn,
    editor: CatalogEditor,
    request: Request,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    async with idempotent(request, database, scope=f"user:{editor.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        variant_id = await variants.add_variant(product_id=product_id, variant=body, uow=uow)
        currency = catalog.settings.default_currency
        created = versioned(
            await variant_out(database, product_id, variant_id, currency=currency), status_code=201
        )
        created.headers["Location"] = f"/api/v1/admin/products/{product_id}/variants/{variant_id}"
        return await guard.finish(created)


@router.patch("/products/{product_id}/variants/{variant_id}", response_model=VariantOut)
async def update_variant(
    *,
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    body: VariantPatchIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
    if_match: IfMatch = None,
) -> Response:
    """Change a variant (SKU, option values, barcode, measures, status, position)."""
    await variants.update_variant(
        product_id=product_id,
        variant_id=variant_id,
        changes=body,
        expected=expected_version(if_match, body.version),
        uow=uow,
    )
    currency = catalog.settings.default_currency
    return versioned(await variant_out(database, product_id, variant_id, currency=currency))


@router.delete("/products/{product_id}/variants/{variant_id}", status_code=204)
async def delete_variant(
    *,
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    if_match: IfMatch = None,
) -> Response:
    """Soft delete (its SKU is free again). Needs If-Match with the variant's ETag."""
    await variants.delete_variant(
        product_id=product_id, variant_id=variant_id, expected=expected_version(if_match), uow=uow
    )
    return Response(status_code=204)


@router.put(
    "/products/{product_id}/variants/{variant_id}/prices/{currency}", response_model=VariantOut
)
async def set_price(
    *,
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    currency: CurrencyCode,
    body: PricePutIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    if_match: IfMatch = None,
) -> Response:
    """Set the variant's price in a currency (the variant's version: If-Match or body)."""
    await variants.set_price(
        product_id=product_id,
        variant_id=variant_id,
        currency=known_currency(currency),
        price=body,
        expected=expected_version(if_match, body.version),
        uow=uow,
    )
    return versioned(await variant_out(database, product_id, variant_id, currency=currency))


@router.delete("/products/{product_id}/variants/{variant_id}/prices/{currency}", status_code=204)
async def delete_price(
    *,
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    currency: CurrencyCode,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    if_match: IfMatch = None,
) -> Response:
    await variants.delete_price(
        product_id=product_id,
        variant_id=variant_id,
        currency=known_currency(currency),
        expected=expected_version(if_match),
        uow=uow,
    )
    return Response(status_code=204)
