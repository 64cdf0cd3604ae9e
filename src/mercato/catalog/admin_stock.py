"""Catalog administration of stock: per variant, and per product for a product with one
variant (permission `catalog:write`)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from mercato.catalog import stock
from mercato.catalog.auth import CatalogEditor
from mercato.catalog.errors import ProductNotFound
from mercato.catalog.models import VariantStock
from mercato.catalog.repository import CatalogReads
from mercato.catalog.schemas import InventoryOut, VariantStockOut
from mercato.catalog.write_schemas import InventoryAdjustIn, InventorySetIn
from mercato.platform.db.database import Database
from mercato.platform.deps import DatabaseDep, UnitOfWorkDep
from mercato.platform.errors import Invalid

router = APIRouter(prefix="/api/v1/admin", tags=["catalog administration"])


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
