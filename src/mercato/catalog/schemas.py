"""Response bodies and read parameters of the catalog API (never ORM objects); the
field types the write bodies (`write_schemas`) share."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from mercato.catalog.models import MAX_OPTIONS
from mercato.platform.money import MAX_MINOR_UNITS, is_known_currency
from mercato.platform.validation import SafeLine

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
MAX_ATTRIBUTES_BYTES = 8_192

Slug = Annotated[SafeLine, Field(min_length=1, max_length=160, pattern=SLUG_PATTERN)]
CategorySlug = Annotated[SafeLine, Field(min_length=1, max_length=120, pattern=SLUG_PATTERN)]
Currency = Annotated[SafeLine, Field(min_length=3, max_length=3, examples=["EUR"])]
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
Sku = Annotated[SafeLine, Field(min_length=1, max_length=64, pattern=SKU_PATTERN)]
OptionName = Annotated[SafeLine, Field(min_length=1, max_length=64)]
OptionValue = Annotated[SafeLine, Field(min_length=1, max_length=64)]
Amount = Annotated[int, Field(ge=0, le=MAX_MINOR_UNITS)]
Measure = Annotated[int, Field(ge=0, le=10_000_000)]
Position = Annotated[int, Field(ge=0, le=100_000)]
_SPACES = re.compile(r"\s+")


def normalise_tag(value: str) -> str:
    """Tags compare as written by anyone: trimmed, single spaces, case-folded."""
    tag = _SPACES.sub(" ", value).strip().casefold()
    if not 1 <= len(tag) <= 64:
        raise ValueError("a tag has 1 to 64 characters")
    return tag


Tag = Annotated[SafeLine, AfterValidator(normalise_tag)]
ProductType = Annotated[SafeLine, Field(min_length=1, max_length=120)]


class StrictInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


def known_currency_code(value: str | None) -> str | None:
    if value is not None and not is_known_currency(value):
        raise ValueError("not an accepted ISO 4217 currency code (upper case)")
    return value


# --- reads ---------------------------------------------------------------------------


class Money(BaseModel):
    amount_minor: int = Field(description="Integer minor units (cents for EUR, yen for JPY)")
    currency: str


class VariantPrice(BaseModel):
    currency: str
    amount_minor: int
    compare_at_minor: int | None


class CategoryRef(BaseModel):
    id: uuid.UUID
    slug: str


class ProductLinks(BaseModel):
    self: str
    category: str | None


class ImageRef(BaseModel):
    url: str
    alt: str


class ProductCard(BaseModel):
    """A product in a list: what a product card shows."""

    id: uuid.UUID
    slug: str
    name: str
    type: str | None
    tags: list[str]
    price: Money | None = Field(
        description="The from-price (least over its variants) in the currency asked for."
    )
    primary_image: ImageRef | None
    in_stock: bool
    category: CategoryRef | None
    status: str
    created_at: dt.datetime
    links: ProductLinks


class OptionOut(BaseModel):
    id: uuid.UUID
    name: str
    values: list[str]


class DimensionsOut(BaseModel):
    length_mm: int | None
    width_mm: int | None
    height_mm: int | None


class StockOut(BaseModel):
    on_hand: int
    reserved: int
    available: int


class VariantLinks(BaseModel):
    self: str


class VariantOut(BaseModel):
    id: uuid.UUID
    sku: str
    title: str = Field(description='Its option values joined ("M / Red"); "" without options.')
    options: dict[str, str]
    price: Money | None = Field(description="In the currency asked for (null: none in it).")
    compare_at: Money | None
    prices: list[VariantPrice]
    available: bool
    available_quantity: int | None = Field(
        default=None, description="Only when the shop exposes stock counts."
    )
    stock: StockOut | None = Field(default=None, description="Catalog editors only.")
    barcode: str | None
    weight_grams: int | None
    dimensions: DimensionsOut
    status: str
    position: int
    version: int
    links: VariantLinks


class ImageOut(BaseModel):
    id: uuid.UUID
    url: str
    alt: str
    position: int
    variant_id: uuid.UUID | None
    primary: bool


class ProductOut(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    description: str
    type: str | None
    tags: list[str]
    price: Money | None = Field(description="The from-price in the currency asked for.")
    in_stock: bool
    category: CategoryRef | None
    attributes: dict[str, Any]
    status: str
    options: list[OptionOut]
    variants: list[VariantOut]
    images: list[ImageOut]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    links: ProductLinks


class ProductRef(BaseModel):
    id: uuid.UUID
    slug: str
    name: str


class SellableVariantOut(VariantOut):
    """A variant with what a cart line shows of its product."""

    product: ProductRef
    image: ImageRef | None


class CategoryLinks(BaseModel):
    self: str
    products: str


class CategoryOut(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    parent: CategoryRef | None
    position: int
    version: int
    children: list[CategoryOut]
    links: CategoryLinks


class InventoryOut(BaseModel):
    product_id: uuid.UUID
    on_hand: int
    reserved: int
    available: int


class VariantStockOut(BaseModel):
    variant_id: uuid.UUID
    on_hand: int
    reserved: int
    available: int


class Created(BaseModel):
    id: uuid.UUID


# --- read parameters ---------------------------------------------------------------------

OPTION_PREFIX = "option."


class ProductPageParams(StrictInput):
    """Query parameters of a product page."""

    currency: SafeLine | None = Field(
        default=None,
        min_length=3,
        max_length=3,
        description="Prices in this currency (default: the shop's, `CATALOG_DEFAULT_CURRENCY`).",
    )

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return known_currency_code(value)


class ProductListParams(StrictInput):
    """Query parameters of `GET /api/v1/products`; any other parameter is a 422."""

    q: SafeLine | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description='Full-text search, websearch syntax ("red shoes" -leather), ranked.'
        " Plain words that match nothing are corrected against the words of product"
        " names (typos): products with all the corrected words, else with any.",
    )
    category: SafeLine | None = Field(
        default=None,
        max_length=120,
        pattern=SLUG_PATTERN,
        description="A category slug; its subcategories are included.",
    )
    min_price: int | None = Field(default=None, ge=0, le=MAX_MINOR_UNITS)
    max_price: int | None = Field(default=None, ge=0, le=MAX_MINOR_UNITS)
    currency: SafeLine | None = Field(default=None, min_length=3, max_length=3)
    in_stock: bool | None = None
    tag: Tag | None = Field(default=None, description="Products with this tag.")
    type: ProductType | None = Field(default=None, description="Products of this type.")
    options: dict[OptionName, OptionValue] = Field(
        default_factory=dict,
        max_length=MAX_OPTIONS,
        description="`option.<name>=<value>` parameters (`option.size=M`): products with a"
        " variant having all of these option values (names and values ignore case).",
    )
    status: Literal["active", "draft", "archived"] = Field(
        default="active", description="Other than `active`: catalog editors only."
    )
    sort: SafeLine | None = Field(
        default=None,
        max_length=100,
        description="relevance (with q; the default then), price, -price (the from-price in"
        " `currency`), created_at, -created_at (the default without q), name, -name.",
    )
    limit: int = Field(default=24, ge=1, le=100)
    cursor: SafeLine | None = Field(default=None, max_length=1024)

    @model_validator(mode="before")
    @classmethod
    def _option_parameters(cls, data: Any) -> Any:
        """`option.size=M` query parameters, collected into `options`."""
        if not isinstance(data, dict):
            return data
        options = {
            key[len(OPTION_PREFIX) :]: value
            for key, value in data.items()
            if isinstance(key, str) and key.startswith(OPTION_PREFIX)
        }
        if not options:
            return data
        rest = {key: value for key, value in data.items() if not str(key).startswith(OPTION_PREFIX)}
        return {**rest, "options": dict(sorted(options.items()))}

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return known_currency_code(value)

    @model_validator(mode="after")
    def _prices_need_a_currency(self) -> ProductListParams:
        if (self.min_price is not None or self.max_price is not None) and self.currency is None:
            raise ValueError("min_price and max_price need a currency")
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ValueError("min_price is above max_price")
        return self
