"""Request and response bodies of orders' API (never ORM objects)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mercato.orders.addresses import COUNTRIES, ShippingAddress
from mercato.orders.models import (
    MAX_MINOR,
    CheckoutSaga,
    Order,
    OrderHistory,
    OrderLine,
    ShippingMethod,
    ShippingPrice,
    TaxRate,
)
from mercato.orders.priced_carts import PricedCart, PricedLine
from mercato.orders.states import OrderStatus
from mercato.platform.money import is_known_currency
from mercato.platform.validation import SafeLine

Currency = Annotated[str, Field(min_length=3, max_length=3, examples=["EUR"])]
Quantity = Annotated[int, Field(ge=1, le=10_000)]
MinorUnits = Annotated[int, Field(ge=0, le=MAX_MINOR, description="Integer minor units")]
MethodCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


def _currency(value: str) -> str:
    if not is_known_currency(value):
        raise ValueError("not an accepted ISO 4217 currency code (upper case)")
    return value


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- carts ---------------------------------------------------------------------------------


class LineIn(_Input):
    variant_id: uuid.UUID
    quantity: Quantity
    currency: Currency | None = Field(
        default=None, description="The cart's currency: required with the first line."
    )

    @field_validator("currency")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return _currency(value) if value is not None else None


class QuantityIn(_Input):
    quantity: Quantity


class ShippingIn(_Input):
    address: ShippingAddress
    method: MethodCode


class LineOut(BaseModel):
    variant_id: uuid.UUID
    product_id: uuid.UUID | None
    sku: str | None
    name: str | None
    title: str | None
    quantity: int
    unit_price_minor: int | None = Field(description="Today's price; null: not for sale now")
    line_total_minor: int
    added_unit_price_minor: int = Field(description="The price when the line was added")
    price_changed: bool
    availability: Literal["available", "not_enough_stock", "unavailable"] = Field(
        description="`not_enough_stock`: fewer units than the line asks for, or, while stock"
        " counts are private (`CATALOG_EXPOSE_STOCK_COUNTS` false), none at all: then a line"
        " of an in-stock variant reads `available` and checkout holds the count (409"
        " `/problems/out-of-stock`)."
    )

    @classmethod
    def of(cls, priced: PricedLine) -> LineOut:
        variant = priced.variant
        return cls(
            variant_id=priced.line.variant_id,
            product_id=variant.product_id if variant else None,
            sku=variant.sku if variant else None,
            name=variant.product_name if variant else None,
            title=variant.title if variant else None,
            quantity=priced.line.quantity,
            unit_price_minor=priced.unit_price_minor,
            line_total_minor=priced.line_total_minor,
            added_unit_price_minor=priced.line.added_unit_price_minor,
            price_changed=priced.price_changed,
            availability=priced.availability.value,
        )


class TotalsOut(BaseModel):
    subtotal_minor: int
    shipping_minor: int
    tax_minor: int
    tax_rate_bp: int = Field(description="Basis points: 2000 is 20 %")
    total_minor: int


class ShippingChoiceOut(BaseModel):
    method: str
    name: str
    price_minor: int | None = Field(description="null: no price in the cart's currency")


class CartOut(BaseModel):
    id: uuid.UUID | None
    currency: str | None
    lines: list[LineOut]
    shipping: ShippingChoiceOut | None
    shipping_address: ShippingAddress | None
    totals: TotalsOut | None = Field(description="null until the address and method are set")
    changed: bool = Field(description="A price or an availability changed since added")
    ready_for_checkout: bool
    version: int
    cart_token: str | None = Field(
        default=None, description="A new guest cart's token: shown this once, keep it"
    )

    @classmethod
    def of(cls, priced: PricedCart, *, cart_token: str | None = None) -> CartOut:
        cart = priced.cart
        totals = priced.totals
        return cls(
            id=cart.id if cart else None,
            currency=cart.currency if cart else None,
            lines=[LineOut.of(line) for line in priced.lines],
            shipping=(
                ShippingChoiceOut(
                    method=priced.method.code,
                    name=priced.method.name,
                    price_minor=priced.shipping_minor,
                )
                if priced.method is not None
                else None
            ),
            shipping_address=priced.address,
            totals=(
                TotalsOut(
                    subtotal_minor=totals.subtotal_minor,
                    shipping_minor=totals.shipping_minor,
                    tax_minor=totals.tax_minor,
                    tax_rate_bp=totals.tax_rate_bp,
                    total_minor=totals.total_minor,
                )
                if totals is not None
                else None
            ),
            changed=priced.changed,
            ready_for_checkout=priced.ready,
            version=cart.version if cart else 0,
            cart_token=cart_token,
        )


# --- checkout and orders ---------------------------------------------------------------------


class CheckoutIn(_Input):
    expected_total_minor: MinorUnits | None = Field(
        default=None, description="The total the customer saw: 409 if it is not the total now"
    )


class OrderLineOut(BaseModel):
    variant_id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    name: str
    title: str
    unit_price_minor: int
    quantity: int
    line_total_minor: int

    @classmethod
    def of(cls, line: OrderLine) -> OrderLineOut:
        return cls(
            variant_id=line.variant_id,
            product_id=line.product_id,
            sku=line.sku,
            name=line.product_name,
            title=line.title,
            unit_price_minor=line.unit_price_minor,
            quantity=line.quantity,
            line_total_minor=line.line_total_minor,
        )


class PaymentStepOut(BaseModel):
    """What the customer's client does to pay."""

    status: Literal["pending", "requires_payment", "succeeded", "canceled", "refunded"] = Field(
        description="pending: the payment is being prepared, read the order again shortly"
    )
    intent_id: uuid.UUID | None
    confirm_url: str | None = Field(
        description='POST {"payment_method": "pm_…"} there with your access token'
    )

    @classmethod
    def of(cls, saga: CheckoutSaga | None, *, payments_url: str) -> PaymentStepOut:
        step = saga.payment if saga is not None else "intent_pending"
        status: Literal["pending", "requires_payment", "succeeded", "canceled", "refunded"] = {
            "intent_pending": "pending",
            "intent_created": "requires_payment",
            "succeeded": "succeeded",
            "cancel_pending": "canceled",
            "canceled": "canceled",
            "refund_pending": "refunded",
            "refunded": "refunded",
        }.get(step, "pending")  # type: ignore[assignment]
        intent_id = saga.intent_id if saga is not None else None
        return cls(
            status=status,
            intent_id=intent_id,
            confirm_url=(
                f"{payments_url}/api/v1/payment_intents/{intent_id}/confirm"
                if intent_id is not None and status == "requires_payment"
                else None
            ),
        )


class OrderSummaryOut(BaseModel):
    id: uuid.UUID
    status: OrderStatus
    currency: str
    total_minor: int
    created_at: dt.datetime

    @classmethod
    def of(cls, order: Order) -> OrderSummaryOut:
        return cls(
            id=order.id,
            status=OrderStatus(order.status),
            currency=order.currency,
            total_minor=order.total_minor,
            created_at=order.created_at,
        )


class OrderOut(BaseModel):
    id: uuid.UUID
    status: OrderStatus
    currency: str
    lines: list[OrderLineOut]
    subtotal_minor: int
    shipping_minor: int
    tax_minor: int
    tax_rate_bp: int
    total_minor: int
    refunded_minor: int
    shipping_method: str
    shipping_address: ShippingAddress
    reserved_until: dt.datetime | None = Field(description="Pay before then (unpaid orders)")
    payment: PaymentStepOut
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(
        cls,
        order: Order,
        lines: list[OrderLine],
        *,
        address: ShippingAddress,
        payment: PaymentStepOut,
    ) -> OrderOut:
        return cls(
            id=order.id,
            status=OrderStatus(order.status),
            currency=order.currency,
            lines=[OrderLineOut.of(line) for line in lines],
            subtotal_minor=order.subtotal_minor,
            shipping_minor=order.shipping_minor,
            tax_minor=order.tax_minor,
            tax_rate_bp=order.tax_rate_bp,
            total_minor=order.total_minor,
            refunded_minor=order.refunded_minor,
            shipping_method=order.shipping_method_code,
            shipping_address=address,
            reserved_until=(
                order.reserved_until if order.status == OrderStatus.PENDING_PAYMENT else None
            ),
            payment=payment,
            version=order.version,
            created_at=order.created_at,
            updated_at=order.updated_at,
        )


class HistoryOut(BaseModel):
    from_status: str | None
    to_status: str
    event: str
    actor: str
    detail: str | None
    amount_minor: int | None
    at: dt.datetime

    @classmethod
    def of(cls, row: OrderHistory) -> HistoryOut:
        return cls(
            from_status=row.from_status,
            to_status=row.to_status,
            event=row.event,
            actor=row.actor,
            detail=row.detail,
            amount_minor=row.amount_minor,
            at=row.at,
        )


class OrderListParams(BaseModel):
    """Query parameters of the customer's order list; any other parameter is a 422."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: SafeLine | None = Field(default=None, max_length=1024)


# --- administration: shipping methods and tax rates -----------------------------------------


def _prices(prices: dict[str, int]) -> dict[str, int]:
    for currency in prices:
        _currency(currency)
    return prices


class ShippingMethodIn(_Input):
    code: MethodCode
    name: Annotated[SafeLine, Field(min_length=1, max_length=200)]
    prices: dict[Currency, MinorUnits] = Field(
        max_length=50, description="Flat price per currency", examples=[{"EUR": 490}]
    )
    active: bool = True

    _known_prices = field_validator("prices")(_prices)


class ShippingMethodUpdateIn(_Input):
    name: Annotated[SafeLine, Field(min_length=1, max_length=200)]
    prices: dict[Currency, MinorUnits] = Field(max_length=50)
    active: bool = True

    _known_prices = field_validator("prices")(_prices)


class ShippingMethodOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    active: bool
    prices: dict[str, int]
    version: int

    @classmethod
    def of(cls, method: ShippingMethod, prices: list[ShippingPrice]) -> ShippingMethodOut:
        return cls(
            id=method.id,
            code=method.code,
            name=method.name,
            active=method.active,
            prices={p.currency: p.price_minor for p in prices if p.method_id == method.id},
            version=method.version,
        )


class TaxRateIn(_Input):
    rate_bp: int = Field(ge=0, le=10_000, description="Basis points: 2000 is 20 %")


class TaxRateOut(BaseModel):
    country: str
    rate_bp: int
    version: int

    @classmethod
    def of(cls, rate: TaxRate) -> TaxRateOut:
        return cls(country=rate.country, rate_bp=rate.rate_bp, version=rate.version)


def checked_country(value: str) -> str:
    """A path's country code (422 unless ISO 3166-1 alpha-2, upper case)."""
    if value not in COUNTRIES:
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return value
