"""Request and response bodies of the catalog API (never ORM objects)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from mercato.catalog.models import MAX_ON_HAND, MAX_OPTIONS
from mercato.platform.errors import Invalid
from mercato.platform.money import MAX_MINOR_UNITS, is_known_currency
from mercato.platform.validation import JsonObject, SafeLine, SafeStr, Version

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


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _known_currency(value: str | None) -> str | None:
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


class ProductPageParams(_Input):
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
        return _known_currency(value)


class ProductListParams(_Input):
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
        return _known_currency(value)

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


# --- writes --------------------------------------------------------------------------


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


class OptionIn(_Input):
    name: OptionName = Field(examples=["Size"])
    values: list[OptionValue] = Field(min_length=1, max_length=100, examples=[["S", "M", "L"]])

    @field_validator("values")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        return _unique_folded(values, "option values")


class PriceIn(_Input):
    currency: Currency
    amount_minor: Amount
    compare_at_minor: Amount | None = Field(
        default=None, description="The higher price it is compared with (shown struck out)."
    )

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        _known_currency(value)
        return value

    @model_validator(mode="after")
    def _compare_at_above(self) -> PriceIn:
        if self.compare_at_minor is not None and self.compare_at_minor <= self.amount_minor:
            raise ValueError("compare_at_minor must be above amount_minor")
        return self


class PricePutIn(_Input):
    amount_minor: Amount
    compare_at_minor: Amount | None = None
    version: Version | None = None

    @model_validator(mode="after")
    def _compare_at_above(self) -> PricePutIn:
        if self.compare_at_minor is not None and self.compare_at_minor <= self.amount_minor:
            raise ValueError("compare_at_minor must be above amount_minor")
        return self


class Dimensions(_Input):
    length_mm: Measure | None = None
    width_mm: Measure | None = None
    height_mm: Measure | None = None


def _distinct_currencies(prices: list[PriceIn]) -> list[PriceIn]:
    if len({price.currency for price in prices}) != len(prices):
        raise ValueError("one price per currency")
    return prices


class VariantIn(_Input):
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


class VariantPatchIn(_Input):
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


class ImageIn(_Input):
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


class ImageCreateIn(_Input):
    url: SafeLine = Field(min_length=1, max_length=2048)
    alt: SafeLine = Field(default="", max_length=512)
    position: Position = 0
    primary: bool = False
    variant_id: uuid.UUID | None = None


class ImagePatchIn(_Input):
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


class OptionPatchIn(_Input):
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


class ProductIn(_Input):
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
        return _known_currency(value)

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


class ProductPatchIn(_Input):
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
        return _known_currency(value)

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _attributes_size(value) if value is not None else None

    _tags = field_validator("tags")(_tags)

    def sent_fields(self) -> frozenset[str]:
        """The fields to change: those sent (null clears only the category and the type;
        `Invalid` for any other)."""
        return _sent(self, nullable={"category", "type"})


class CategoryIn(_Input):
    slug: CategorySlug
    name: SafeLine = Field(min_length=1, max_length=200)
    parent: SafeLine | None = Field(default=None, max_length=120, pattern=SLUG_PATTERN)
    position: int = Field(default=0, ge=0, le=100_000)


class CategoryPatchIn(_Input):
    slug: CategorySlug | None = None
    name: SafeLine | None = Field(default=None, min_length=1, max_length=200)
    parent: SafeLine | None = Field(default=None, max_length=120, pattern=SLUG_PATTERN)
    position: int | None = Field(default=None, ge=0, le=100_000)
    version: Version | None = None


class InventorySetIn(_Input):
    on_hand: int = Field(ge=0, le=MAX_ON_HAND)


class InventoryAdjustIn(_Input):
    delta: int = Field(ge=-MAX_ON_HAND, le=MAX_ON_HAND, description="Units to add (or remove, < 0)")

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("a zero adjustment changes nothing")
        return value
