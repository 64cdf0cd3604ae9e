"""Request and response bodies of the catalog API (never ORM objects)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mercato.catalog.models import MAX_ON_HAND
from mercato.platform.errors import Invalid
from mercato.platform.money import MAX_MINOR_UNITS, is_known_currency
from mercato.platform.validation import JsonObject, SafeLine, SafeStr, Version

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
MAX_ATTRIBUTES_BYTES = 8_192

Slug = Annotated[SafeLine, Field(min_length=1, max_length=160, pattern=SLUG_PATTERN)]
CategorySlug = Annotated[SafeLine, Field(min_length=1, max_length=120, pattern=SLUG_PATTERN)]
Currency = Annotated[SafeLine, Field(min_length=3, max_length=3, examples=["EUR"])]


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


class Stock(BaseModel):
    available: int
    in_stock: bool


class CategoryRef(BaseModel):
    id: uuid.UUID
    slug: str


class ProductLinks(BaseModel):
    self: str
    category: str | None


class ProductOut(BaseModel):
    id: uuid.UUID
    sku: str
    slug: str
    name: str
    description: str
    price: Money
    category: CategoryRef | None
    attributes: dict[str, Any]
    status: str
    stock: Stock
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    links: ProductLinks


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


# --- list parameters ---------------------------------------------------------------------


class ProductListParams(_Input):
    """Query parameters of `GET /api/v1/products`; any other parameter is a 422."""

    q: SafeLine | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description='Full-text search, websearch syntax ("red shoes" -leather), ranked;'
        " near misses of the name (typos) match too.",
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
    status: Literal["active", "draft", "archived"] = Field(
        default="active", description="Other than `active`: catalog editors only."
    )
    sort: SafeLine | None = Field(
        default=None,
        max_length=100,
        description="relevance (with q; the default then), price, -price, created_at,"
        " -created_at (the default without q), name, -name.",
    )
    limit: int = Field(default=24, ge=1, le=100)
    cursor: SafeLine | None = Field(default=None, max_length=1024)

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


class ProductIn(_Input):
    sku: SafeLine = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    slug: Slug
    name: SafeLine = Field(min_length=1, max_length=300)
    description: SafeStr = Field(default="", max_length=20_000)
    price_minor: int = Field(ge=0, le=MAX_MINOR_UNITS)
    currency: Currency
    category: SafeLine | None = Field(default=None, max_length=120, pattern=SLUG_PATTERN)
    attributes: JsonObject = Field(default_factory=dict)
    status: Literal["draft", "active", "archived"] = "draft"
    on_hand: int = Field(default=0, ge=0, le=MAX_ON_HAND)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        _known_currency(value)
        return value

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _attributes_size(value)


class ProductPatchIn(_Input):
    """The fields sent change; send `version` or If-Match."""

    sku: SafeLine | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )
    slug: Slug | None = None
    name: SafeLine | None = Field(default=None, min_length=1, max_length=300)
    description: SafeStr | None = Field(default=None, max_length=20_000)
    price_minor: int | None = Field(default=None, ge=0, le=MAX_MINOR_UNITS)
    currency: Currency | None = None
    category: SafeLine | None = Field(default=None, max_length=120, pattern=SLUG_PATTERN)
    attributes: JsonObject | None = None
    status: Literal["draft", "active", "archived"] | None = None
    version: Version | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return _known_currency(value)

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _attributes_size(value) if value is not None else None

    def sent_fields(self) -> frozenset[str]:
        """The fields to change: those sent (null is meaningful only for the category;
        `Invalid` for any other)."""
        sent = frozenset(self.model_fields_set - {"version"})
        for name in sorted(sent):
            if getattr(self, name) is None and name != "category":
                raise Invalid(
                    f"{name} cannot be null.",
                    errors=[{"in": "body", "pointer": f"/{name}", "detail": "cannot be null"}],
                )
        return sent


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
