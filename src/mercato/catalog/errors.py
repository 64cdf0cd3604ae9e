"""Catalog's domain errors (each maps to one problem type)."""

from __future__ import annotations

from mercato.platform import errors


class ProductNotFound(errors.NotFound):
    code = "product-not-found"
    title = "No such product"


class CategoryNotFound(errors.NotFound):
    code = "category-not-found"
    title = "No such category"


class DuplicateProduct(errors.Conflict):
    code = "duplicate-product"
    title = "A live product already has this SKU or slug"


class DuplicateCategory(errors.Conflict):
    code = "duplicate-category"
    title = "A live category already has this slug"


class CategoryInUse(errors.Conflict):
    code = "category-in-use"
    title = "The category still has products or subcategories"


class CategoryCycle(errors.Invalid):
    code = "category-cycle"
    title = "A category cannot be moved under itself"


class InsufficientStock(errors.Conflict):
    code = "insufficient-stock"
    title = "Stock cannot go below what is reserved"


class StockLimitExceeded(errors.Conflict):
    code = "stock-limit-exceeded"
    title = "Stock cannot go above the most a product can hold"
