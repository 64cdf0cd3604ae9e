"""Catalog: categories, products, inventory, search. Other contexts use only what is
exported here (TEMPORARY stand-in of the stock surface until the variants work lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mercato.catalog.surface_standin import (
        OutOfStock,
        SellableVariant,
        StockLine,
        StockNotReserved,
        commit_stock,
        release_stock,
        reserve_stock,
        sellable_variants,
    )

__all__ = [
    "OutOfStock",
    "SellableVariant",
    "StockLine",
    "StockNotReserved",
    "commit_stock",
    "release_stock",
    "reserve_stock",
    "sellable_variants",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mercato.catalog import surface_standin  # noqa: PLC0415 - lazy surface

        return getattr(surface_standin, name)
    raise AttributeError(name)
