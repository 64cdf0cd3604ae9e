"""Catalog administration (permission `catalog:write`): products with their options,
variants, prices, images and stock; categories.

Creating routes accept Idempotency-Key; changing and deleting routes need the version
they change (If-Match with the ETag, or `version`): a variant's own for the variant, its
prices and nothing else; the product's for the product, its options and images.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from mercato.catalog import categories, images, options, products, stock, variants
from mercato.catalog.api import category_out
from mercato.catalog.auth import CatalogDep, CatalogEditor
from mercato.catalog.errors import CategoryNotFound, ProductNotFound, VariantNotFound
from mercato.catalog.models import Category, VariantStock
from mercato.catalog.product_pages import editor_product
from mercato.catalog.repository import CatalogReads
from mercato.catalog.schemas import (
    CategoryIn,
    CategoryOut,
    CategoryPatchIn,
    ImageCreateIn,
    ImagePatchIn,
    InventoryAdjustIn,
    InventoryOut,
    InventorySetIn,
    OptionCreateIn,
    OptionPatchIn,
    PricePutIn,
    ProductIn,
    ProductOut,
    ProductPageParams,
    ProductPatchIn,
    VariantIn,
    VariantOut,
    VariantPatchIn,
    VariantStockOut,
)
from mercato.catalog.services import CatalogServices
from mercato.platform.concurrency import ExpectedVersion, version_etag
from mercato.platform.db.database import Database
from mercato.platform.deps import DatabaseDep, UnitOfWorkDep
from mercato.platform.errors import Invalid
from mercato.platform.idempotency import idempotent
from mercato.platform.money import is_known_currency

router = APIRouter(prefix="/api/v1/admin", tags=["catalog administration"])

IfMatch = Annotated[str | None, Header(max_length=200)]
CurrencyCode = Annotated[str, Path(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")]
PageParams = Annotated[ProductPageParams, Query()]


def _currency(code: str) -> str:
    if not is_known_currency(code):
        raise Invalid(
            "Not a currency the catalog accepts.",
            errors=[{"in": "path", "pointer": "/currency", "detail": "unknown currency"}],
        )
    return code


async def _product_document(
    database: Database, product_id: uuid.UUID, *, currency: str
) -> dict[str, Any]:
    """Read on the primary: the editor must see their own write (read-your-writes)."""
    async with database.session() as session:
        document = await editor_product(session, product_id, currency=currency)
    if document is None:
        raise ProductNotFound()
    return document


async def _product(database: Database, product_id: uuid.UUID, *, currency: str) -> ProductOut:
    return ProductOut.model_validate(
        await _product_document(database, product_id, currency=currency)
    )


async def _variant(
    database: Database, product_id: uuid.UUID, variant_id: uuid.UUID, *, currency: str
) -> VariantOut:
    document = await _product_document(database, product_id, currency=currency)
    found = next((v for v in document["variants"] if v["id"] == str(variant_id)), None)
    if found is None:
        raise VariantNotFound()
    return VariantOut.model_validate(found)


def _versioned(
    resource: ProductOut | VariantOut | CategoryOut, *, status_code: int = 200
) -> JSONResponse:
    """The representation with its version as ETag (what If-Match wants back)."""
    return JSONResponse(
        resource.model_dump(mode="json", exclude_none=False),
        status_code=status_code,
        headers={"ETag": version_etag(resource.version)},
    )


async def _product_answer(
    database: Database, catalog: CatalogServices, product_id: uuid.UUID, *, status_code: int = 200
) -> JSONResponse:
    """The product after a change, in the shop's default currency, with its version."""
    product = await _product(database, product_id, currency=catalog.settings.default_currency)
    return _versioned(product, status_code=status_code)


def _expected(if_match: str | None, version: int | None = None) -> ExpectedVersion:
    return ExpectedVersion.from_request(if_match=if_match, body_version=version)


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
        created = await _product_answer(database, catalog, product_id, status_code=201)
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
    return _versioned(await _product(database, product_id, currency=currency))


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
        product_id=product_id, changes=body, expected=_expected(if_match, body.version), uow=uow
    )
    return await _product_answer(database, catalog, product_id)


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
        created = _versioned(
            await _variant(database, product_id, variant_id, currency=currency), status_code=201
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
        expected=_expected(if_match, body.version),
        uow=uow,
    )
    currency = catalog.settings.default_currency
    return _versioned(await _variant(database, product_id, variant_id, currency=currency))


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
        product_id=product_id, variant_id=variant_id, expected=_expected(if_match), uow=uow
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
        currency=_currency(currency),
        price=body,
        expected=_expected(if_match, body.version),
        uow=uow,
    )
    return _versioned(await _variant(database, product_id, variant_id, currency=currency))


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
        currency=_currency(currency),
        expected=_expected(if_match),
        uow=uow,
    )
    return Response(status_code=204)


def _stock_out(stock_row: VariantStock) -> VariantStockOut:
    return VariantStockOut(
        variant_id=stock_row.variant_id,
        on_hand=stock_row.on_hand,
        reserved=stock_row.reserved,
        available=stock_row.on_hand - stock_row.reserved,
    )


@router.put("/products/{product_id}/variants/{variant_id}/stock", response_model=VariantStockOut)
async def set_variant_stock(
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    body: InventorySetIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
) -> VariantStockOut:
    """Set the units on hand (409 below what is reserved)."""
    return _stock_out(
        await stock.set_stock(
            product_id=product_id, variant_id=variant_id, on_hand=body.on_hand, uow=uow
        )
    )


@router.post(
    "/products/{product_id}/variants/{variant_id}/stock/adjust", response_model=VariantStockOut
)
async def adjust_variant_stock(
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    body: InventoryAdjustIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
) -> VariantStockOut:
    """Add or remove units atomically (409 below what is reserved or above the maximum)."""
    return _stock_out(
        await stock.adjust_stock(
            product_id=product_id, variant_id=variant_id, delta=body.delta, uow=uow
        )
    )


async def _only_variant(database: Database, product_id: uuid.UUID) -> uuid.UUID:
    async with database.session() as session:
        variant_ids = await CatalogReads(session).live_variant_ids(product_id)
    if not variant_ids:
        raise ProductNotFound()
    if len(variant_ids) > 1:
        raise Invalid("The product has several variants: set the stock of each variant.")
    return variant_ids[0]


def _inventory_out(product_id: uuid.UUID, stock_row: VariantStock) -> InventoryOut:
    return InventoryOut(
        product_id=product_id,
        on_hand=stock_row.on_hand,
        reserved=stock_row.reserved,
        available=stock_row.on_hand - stock_row.reserved,
    )


@router.put("/products/{product_id}/inventory", response_model=InventoryOut)
async def set_inventory(
    product_id: uuid.UUID,
    body: InventorySetIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
) -> InventoryOut:
    """The stock of a product with one variant (422 with several: use the variant's)."""
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
    """Adjust the stock of a product with one variant (422 with several)."""
    variant_id = await _only_variant(database, product_id)
    return _inventory_out(
        product_id, await stock.adjust_stock(variant_id=variant_id, delta=body.delta, uow=uow)
    )


# --- options and images (changes of the product: its version) ---------------------------------


@router.post(
    "/products/{product_id}/options",
    status_code=201,
    response_model=ProductOut,
    summary="Add an option; existing variants take one of its values (accepts Idempotency-Key)",
)
async def add_option(
    *,
    product_id: uuid.UUID,
    body: OptionCreateIn,
    editor: CatalogEditor,
    request: Request,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
    if_match: IfMatch = None,
) -> Response:
    async with idempotent(request, database, scope=f"user:{editor.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        await options.add_option(
            product_id=product_id,
            option=body,
            expected=_expected(if_match, body.version),
            uow=uow,
        )
        created = await _product_answer(database, catalog, product_id, status_code=201)
        return await guard.finish(created)


@router.patch("/products/{product_id}/options/{option_id}", response_model=ProductOut)
async def update_option(
    *,
    product_id: uuid.UUID,
    option_id: uuid.UUID,
    body: OptionPatchIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
    if_match: IfMatch = None,
) -> Response:
    """Rename the option, re-order or add values (a value in use cannot go: 409)."""
    await options.update_option(
        product_id=product_id,
        option_id=option_id,
        changes=body,
        expected=_expected(if_match, body.version),
        uow=uow,
    )
    return await _product_answer(database, catalog, product_id)


@router.delete("/products/{product_id}/options/{option_id}", status_code=204)
async def delete_option(
    *,
    product_id: uuid.UUID,
    option_id: uuid.UUID,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    if_match: IfMatch = None,
) -> Response:
    """The variants lose this option's value (409 if two would become the same)."""
    await options.delete_option(
        product_id=product_id, option_id=option_id, expected=_expected(if_match), uow=uow
    )
    return Response(status_code=204)


@router.post(
    "/products/{product_id}/images",
    status_code=201,
    response_model=ProductOut,
    summary="Add an image (accepts Idempotency-Key)",
)
async def add_image(
    *,
    product_id: uuid.UUID,
    body: ImageCreateIn,
    editor: CatalogEditor,
    request: Request,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    async with idempotent(request, database, scope=f"user:{editor.user_id}") as guard:
        if guard.replay is not None:
            return guard.replay
        await images.add_image(
            product_id=product_id, image=body, media_base=catalog.settings.media_base_url, uow=uow
        )
        created = await _product_answer(database, catalog, product_id, status_code=201)
        return await guard.finish(created)


@router.patch("/products/{product_id}/images/{image_id}", response_model=ProductOut)
async def update_image(
    *,
    product_id: uuid.UUID,
    image_id: uuid.UUID,
    body: ImagePatchIn,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    database: DatabaseDep,
    catalog: CatalogDep,
    if_match: IfMatch = None,
) -> Response:
    await images.update_image(
        product_id=product_id,
        image_id=image_id,
        changes=body,
        expected=_expected(if_match, body.version),
        uow=uow,
    )
    return await _product_answer(database, catalog, product_id)


@router.delete("/products/{product_id}/images/{image_id}", status_code=204)
async def delete_image(
    *,
    product_id: uuid.UUID,
    image_id: uuid.UUID,
    editor: CatalogEditor,
    uow: UnitOfWorkDep,
    if_match: IfMatch = None,
) -> Response:
    await images.delete_image(
        product_id=product_id, image_id=image_id, expected=_expected(if_match), uow=uow
    )
    return Response(status_code=204)


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
