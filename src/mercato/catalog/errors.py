"""Catalog's domain errors (each maps to one problem type)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

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
    title = "Stock cannot go above the most a variant can hold"


class VariantNotFound(errors.NotFound):
    code = "variant-not-found"
    title = "No such variant"


class DuplicateVariant(errors.Conflict):
    code = "duplicate-variant"
    title = "A live variant already has this SKU or these option values"


class OptionNotFound(errors.NotFound):
    code = "option-not-found"
    title = "No such option"


class ImageNotFound(errors.NotFound):
    code = "image-not-found"
    title = "No such image"


class PriceNotFound(errors.NotFound):
    code = "price-not-found"
    title = "The variant has no price in this currency"


class DuplicateOption(errors.Conflict):
    code = "duplicate-option"
    title = "The product already has an option with this name"


class TooManyOptions(errors.Conflict):
    code = "too-many-options"
    title = "A product has at most three options"


class OptionValueInUse(errors.Conflict):
    code = "option-value-in-use"
    title = "A live variant uses an option value that would be removed"


class OutOfStock(errors.Conflict):
    """Some lines of a reservation cannot be had: nothing of it was reserved."""

    code = "out-of-stock"
    title = "Not enough stock"

    def __init__(self, *, variant_ids: Sequence[uuid.UUID]) -> None:
        self.variant_ids = sorted(set(variant_ids))
        super().__init__(
            "Some items are not available in the quantity asked for.",
            errors=[
                {"pointer": f"/variants/{variant_id}", "detail": "not enough stock"}
                for variant_id in self.variant_ids
            ],
        )


class StockNotReserved(errors.Conflict):
    """Releasing or committing more than is reserved: a caller's bookkeeping error."""

    code = "stock-not-reserved"
    title = "Fewer units are reserved than asked for"

    def __init__(self, *, variant_ids: Sequence[uuid.UUID]) -> None:
        self.variant_ids = sorted(set(variant_ids))
        super().__init__(
            "Fewer units are reserved than the release or commit names.",
            errors=[
                {"pointer": f"/variants/{variant_id}", "detail": "not reserved"}
                for variant_id in self.variant_ids
            ],
        )
