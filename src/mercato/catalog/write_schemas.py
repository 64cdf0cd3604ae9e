"""The bodies the catalog administration sends: products, variants, prices, options,
images, categories and stock changes (validated before any service sees them)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import orjson
from pydantic import (
    BaseModel,
    Field,
    field_validator,
    model_validator,
)

from mercato.catalog.models import MAX_ON_HAND, MAX_OPTIONS
from mercato.catalog.schemas import (
    MAX_ATTRIBUTES_BYTES,
    SLUG_PATTERN,
    Amount,
    CategorySlug,
    Currency,
    Measure,
    OptionName,
    OptionValue,
    Position,
    ProductType,
    Sku,
    Slug,
    StrictInput,
    Tag,
    known_currency_code,
)
from mercato.platform.errors import Invalid
from mercato.platform.validation import JsonObject, SafeLine, SafeStr, Version


def _attributes_size(value: dict[str, Any]) -> dict[str, Any]:
    if len(orjson.dumps(value)) > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes are limited to {MAX_ATTRIBUTES_BYTES} bytes of JSON")
    return value


def _tags(value: list[str] | None) -> list[str] | None:
    """Unique, in the order first given."""
    return list(dict.fromkeys(value)) if value is not None else None


def _unique_folded(values: list[str], what: str) -> list[str]:
    if len({value.casefold() for value in values}) != len(values):
        raise ValueError(f"{what} repeat (ignoring case)")
    return values


class OptionIn(StrictInput):
    name: OptionName = Field(examples=["Size"])
    values: list[OptionValue] = Field(min_length=1, max_length=100, examples=[["S", "M", "L"]])

    @field_validator("values")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        return _unique_folded(values, "option values")


class PriceIn(StrictInput):
    currency: Currency
    amount_minor: Amount
    compare_at_minor: Amount | None = Field(
        default=None, description="The higher price it is compared with (shown struck out)."
    )

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        known_currency_code(value)
        return value

    @model_validator(mode="after")
    def _compare_at_above(self) -> PriceIn:
        if self.compare_at_minor is not None and self.compare_at_minor <= self.amount_minor:
            raise ValueError("compare_at_minor must be above amount_minor")
        return self


class PricePutIn(StrictInput):
    amount_minor: Amount
    compare_at_minor: Amount | None = None
    version: Version | None = None

    @model_validator(mode="after")
    def _compare_at_above(self) -> PricePutIn:
        if self.compare_at_minor is not None and self.compare_at_minor <= self.amount_minor:
            raise ValueError("compare_at_minor must be above amount_minor")
        return self


class Dimensions(StrictInput):
    length_mm: Measure | None = None
    width_mm: Measure | None = None
    height_mm: Measure | None = None


def _distinct_currencies(prices: list[PriceIn]) -> list[PriceIn]:
    if len({price.currency for price in prices}) != len(prices):
        raise ValueError("one price per currency")
    return prices


class VariantIn(StrictInput):
    sku: Sku
    options: dict[OptionName, OptionValue] = Field(
        default_factory=dict,
        max_length=MAX_OPTIONS,
        description="One value per option of the product, by option name.",
        examples=[{"Size": "M", "Colour": "Red"}],
    )
    prices: list[PriceIn] = Field(min_length=1, max_length=30)
    on_hand: int = Field(default=0, ge=0, le=MAX_ON_HAND)
    barcode: SafeLine | None = Field(default=None, min_length=1, max_length=64)
    weight_grams: Measure | None = None
    dimensions: Dimensions | None = None
    status: Literal["active", "archived"] = "active"
    position: Position = 0

    _prices = field_validator("prices")(_distinct_currencies)


class VariantPatchIn(StrictInput):
    """The fields sent change; send `version` (the variant's) or If-Match."""

    sku: Sku | None = None
    options: dict[OptionName, OptionValue] | None = Field(default=None, max_length=MAX_OPTIONS)
    barcode: SafeLine | None = Field(default=None, min_length=1, max_length=64)
    weight_grams: Measure | None = None
    dimensions: Dimensions | None = None
    status: Literal["active", "archived"] | None = None
    position: Position | None = None
    version: Version | None = None

    def sent_fields(self) -> frozenset[str]:
        """The fields to change (null clears barcode, weight and dimensions only)."""
        return _sent(self, nullable={"barcode", "weight_grams", "dimensions"})


class ImageIn(StrictInput):
    url: SafeLine = Field(
        min_length=1,
        max_length=2048,
        description="https, or under the configured media base (`CATALOG_MEDIA_BASE_URL`).",
        examples=["https://media.example.com/kettle.jpg"],
    )
    alt: SafeLine = Field(default="", max_length=512)
    position: Position = 0
    primary: bool = False
    variant_sku: Sku | None = Field(
        default=None, description="The variant it shows (by SKU, within this request)."
    )


class ImageCreateIn(StrictInput):
    url: SafeLine = Field(min_length=1, max_length=2048)
    alt: SafeLine = Field(default="", max_length=512)
    position: Position = 0
    primary: bool = False
    variant_id: uuid.UUID | None = None


class ImagePatchIn(StrictInput):
    """Send the product's `version` (or If-Match with its ETag)."""

    alt: SafeLine | None = Field(default=None, max_length=512)
    position: Position | None = None
    primary: Literal[True] | None = Field(default=None, description="Make it the primary image.")
    variant_id: uuid.UUID | None = None
    version: Version | None = None

    def sent_fields(self) -> frozenset[str]:
        return _sent(self, nullable={"variant_id"})


class OptionCreateIn(OptionIn):
    existing_value: OptionValue | None = Field(
        default=None,
        description="The value existing variants take (default: the first of `values`).",
    )
    version: Version | None = None


class OptionPatchIn(StrictInput):
    """Rename, reorder or extend values; a value a live variant uses cannot be removed."""

    name: OptionName | None = None
    values: list[OptionValue] | None = Field(default=None, min_length=1, max_length=100)
    version: Version | None = None

    @field_validator("values")
    @classmethod
    def _distinct(cls, values: list[str] | None) -> list[str] | None:
        return _unique_folded(values, "option values") if values is not None else None


def _sent(model: BaseModel, *, nullable: set[str]) -> frozenset[str]:
    sent = frozenset(model.model_fields_set - {"version"})
    for name in sorted(sent):
        if getattr(model, name) is None and name not in nullable:
            raise Invalid(
                f"{name} cannot be null.",
                errors=[{"in": "body", "pointer": f"/{name}", "detail": "cannot be null"}],
            )
    return sent


class ProductIn(StrictInput):
    """A product with its options, variants and images in one request; or, for a product
    without options, the shorthand `sku`, `price_minor`, `currency`, `on_hand` (its one
    default variant)."""

    slug: Slug
    name: SafeLine = Field(min_length=1, max_length=300)
    description: SafeStr = Field(default="", max_length=20_000)
    category: SafeLine | None = Field(default=None, max_length=120, pattern=SLUG_PATTERN)
    attributes: JsonObject = Field(default_factory=dict)
    status: Literal["draft", "active", "archived"] = "draft"
    type: ProductType | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    options: list[OptionIn] = Field(default_factory=list, max_length=MAX_OPTIONS)
    variants: list[VariantIn] = Field(default_factory=list, max_length=100)
    images: list[ImageIn] = Field(default_factory=list, max_length=50)
    sku: Sku | None = None
    price_minor: Amount | None = None
    currency: Currency | None = None
    on_hand: int = Field(default=0, ge=0, le=MAX_ON_HAND)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return known_currency_code(value)

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _attributes_size(value)

    _tags = field_validator("tags")(_tags)

    @field_validator("options")
    @classmethod
    def _distinct_options(cls, options: list[OptionIn]) -> list[OptionIn]:
        _unique_folded([option.name for option in options], "option names")
        return options

    @model_validator(mode="after")
    def _variants_or_shorthand(self) -> ProductIn:
        shorthand = (self.sku, self.price_minor, self.currency)
        if self.variants and any(value is not None for value in shorthand):
            raise ValueError("send either variants or sku/price_minor/currency, not both")
        if not self.variants and any(value is None for value in shorthand):
            raise ValueError("send variants, or sku, price_minor and currency")
        if self.options and not self.variants:
            raise ValueError("a product with options needs its variants")
        return self

    def variant_list(self) -> list[VariantIn]:
        """The variants, the shorthand's default variant included."""
        if self.variants:
            return list(self.variants)
        assert self.sku is not None
        assert self.price_minor is not None
        assert self.currency
        price = PriceIn(currency=self.currency, amount_minor=self.price_minor)
        return [VariantIn(sku=self.sku, prices=[price], on_hand=self.on_hand)]


class ProductPatchIn(StrictInput):
    """The fields sent change; send `version` or If-Match. `sku`, `price_minor` and
    `currency` change the only variant of a product that has one."""

    slug: Slug | None = None
    name: SafeLine | None = Field(default=None, min_length=1, max_length=300)
    description: SafeStr | None = Field(default=None, max_length=20_000)
    category: SafeLine | None = Field(default=None, max_length=120, pattern=SLUG_PATTERN)
    attributes: JsonObject | None = None
    status: Literal["draft", "active", "archived"] | None = None
    type: ProductType | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    sku: Sku | None = None
    price_minor: Amount | None = None
    currency: Currency | None = None
    version: Version | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return known_currency_code(value)

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _attributes_size(value) if value is not None else None

    _tags = field_validator("tags")(_tags)

    def sent_fields(self) -> frozenset[str]:
        """The fields to change: those sent (null clears only the category and the type;
        `Invalid` for any other)."""
        return _sent(self, nullable={"category", "type"})


class CategoryIn(StrictInput):
    slug: CategorySlug
    name: SafeLine = Field(min_length=1, max_length=200)
    parent: SafeLine | None = Field(default=None, max_length=120, pattern=SLUG_PATTERN)
    position: int = Field(default=0, ge=0, le=100_000)


class CategoryPatchIn(StrictInput):
    slug: CategorySlug | None = None
    name: SafeLine | None = Field(default=None, min_length=1, max_length=200)
    parent: SafeLine | None = Field(default=None, max_length=120, pattern=SLUG_PATTERN)
    position: int | None = Field(default=None, ge=0, le=100_000)
    version: Version | None = None


class InventorySetIn(StrictInput):
    on_hand: int = Field(ge=0, le=MAX_ON_HAND)


class InventoryAdjustIn(StrictInput):
    delta: int = Field(ge=-MAX_ON_HAND, le=MAX_ON_HAND, description="Units to add (or remove, < 0)")

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("a zero adjustment changes nothing")
        return value
