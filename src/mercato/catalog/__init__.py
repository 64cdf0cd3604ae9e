"""Catalog: categories, products with options and variants, prices, stock, images, tags.

Other contexts use only what this package exports (an import-linter contract holds it):
look up sellable variants with their price in a currency, reserve (or hold, priced, then
reserve), release or commit stock inside their own unit of work, and ask whether customers
may see exact stock counts. Exports load lazily: importing the package (as every
`mercato.catalog.*` import does) costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mercato.catalog.config import stock_counts_exposed
    from mercato.catalog.errors import OutOfStock, StockNotReserved
    from mercato.catalog.reservations import (
        HeldStock,
        commit_stock,
        hold_stock,
        release_stock,
        reserve_held,
        reserve_stock,
    )
    from mercato.catalog.sellable import SellableVariant, StockLine, sellable_variants

_EXPORTS = {
    "OutOfStock": "mercato.catalog.errors",
    "StockNotReserved": "mercato.catalog.errors",
    "StockLine": "mercato.catalog.sellable",
    "SellableVariant": "mercato.catalog.sellable",
    "sellable_variants": "mercato.catalog.sellable",
    "reserve_stock": "mercato.catalog.reservations",
    "HeldStock": "mercato.catalog.reservations",
    "hold_stock": "mercato.catalog.reservations",
    "reserve_held": "mercato.catalog.reservations",
    "release_stock": "mercato.catalog.reservations",
    "commit_stock": "mercato.catalog.reservations",
    "stock_counts_exposed": "mercato.catalog.config",
}

__all__ = [
    "HeldStock",
    "OutOfStock",
    "SellableVariant",
    "StockLine",
    "StockNotReserved",
    "commit_stock",
    "hold_stock",
    "release_stock",
    "reserve_held",
    "reserve_stock",
    "sellable_variants",
    "stock_counts_exposed",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
