"""A cart priced from the catalog now: each line at today's price and availability, with a
clear signal when either changed since the line was added; totals with shipping and tax
when an address and a method are set. Exact stock counts stay hidden unless catalog
exposes them (`hide_stock_counts`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from mercato.catalog import SellableVariant, sellable_variants
from mercato.orders.addresses import ShippingAddress, open_address
from mercato.orders.carts import CART_TABLE, CartOwner
from mercato.orders.errors import (
    CartNotFound,
    ShippingNotAvailable,
)
from mercato.orders.models import Cart, CartLine, ShippingMethod
from mercato.orders.pricing import Totals, totals
from mercato.orders.repository import OrdersReads
from mercato.platform.security.fields import FieldKeyRing


class Availability(StrEnum):
    AVAILABLE = "available"
    NOT_ENOUGH = "not_enough_stock"  # fewer units than the line asks for
    UNAVAILABLE = "unavailable"  # gone, not on sale, or no price in the cart's currency


@dataclass(frozen=True, slots=True)
class PricedLine:
    line: CartLine
    variant: SellableVariant | None
    availability: Availability

    @property
    def unit_price_minor(self) -> int | None:
        return self.variant.unit_price_minor if self.variant is not None else None

    @property
    def line_total_minor(self) -> int:
        price = self.unit_price_minor
        return price * self.line.quantity if price is not None else 0

    @property
    def price_changed(self) -> bool:
        price = self.unit_price_minor
        return price is not None and price != self.line.added_unit_price_minor

    @property
    def changed(self) -> bool:
        return self.price_changed or self.availability is not Availability.AVAILABLE


@dataclass(frozen=True, slots=True)
class PricedCart:
    cart: Cart | None
    lines: list[PricedLine]
    method: ShippingMethod | None
    shipping_minor: int | None
    address: ShippingAddress | None
    tax_rate_bp: int | None
    totals: Totals | None

    @property
    def changed(self) -> bool:
        return any(line.changed for line in self.lines)

    @property
    def ready(self) -> bool:
        """Everything checkout needs: lines all available, address, method, tax rate."""
        return (
            bool(self.lines)
            and self.totals is not None
            and not any(line.availability is not Availability.AVAILABLE for line in self.lines)
        )


async def read_cart(
    session: AsyncSession,
    *,
    owner: CartOwner,
    field_keys: FieldKeyRing,
    stock_counts_shown: bool = False,
) -> PricedCart:
    """The owner's cart priced now, as its owner may see it (`hide_stock_counts`)."""
    reads = OrdersReads(session)
    if owner.customer_id is not None:
        cart = await reads.customer_cart(owner.customer_id)
        if cart is None:  # a customer always has a cart: an empty one until a line
            return PricedCart(None, [], None, None, None, None, None)
    else:
        assert owner.token_hash is not None
        cart = await reads.guest_cart(owner.token_hash)
        if cart is None:
            raise CartNotFound()
    priced = await price_cart(session, cart, field_keys=field_keys)
    return priced if stock_counts_shown else hide_stock_counts(priced)


def hide_stock_counts(priced: PricedCart) -> PricedCart:
    """The cart as customers may see it when stock counts are private: a line of an
    in-stock variant reads `available` whatever its quantity (so do `changed` and
    `ready_for_checkout`); only a variant with no unit left reads `not_enough_stock`.
    Checkout's reservation holds the count."""
    lines = [
        replace(line, availability=Availability.AVAILABLE)
        if line.availability is Availability.NOT_ENOUGH
        and line.variant is not None
        and line.variant.available_quantity > 0
        else line
        for line in priced.lines
    ]
    return replace(priced, lines=lines)


async def price_cart(session: AsyncSession, cart: Cart, *, field_keys: FieldKeyRing) -> PricedCart:
    """The cart at today's catalog prices and availability (one catalog statement)."""
    reads = OrdersReads(session)
    lines = await reads.cart_lines(cart.id)
    variants = (
        await sellable_variants(
            session, [line.variant_id for line in lines], currency=cart.currency
        )
        if lines and cart.currency is not None
        else {}
    )
    priced = [_priced(line, variants.get(line.variant_id)) for line in lines]
    method = (
        await reads.shipping_method(cart.shipping_method_id)
        if cart.shipping_method_id is not None
        else None
    )
    shipping = (
        await reads.shipping_price(method.id, cart.currency)
        if method is not None and method.active and cart.currency is not None
        else None
    )
    rate = await reads.tax_rate(cart.shipping_country) if cart.shipping_country else None
    address = (
        open_address(field_keys, cart.shipping_address_encrypted, table=CART_TABLE, row_id=cart.id)
        if cart.shipping_address_encrypted is not None
        else None
    )
    cart_totals = (
        totals((line.line_total_minor for line in priced), shipping_minor=shipping, rate_bp=rate)
        if priced and shipping is not None and rate is not None and address is not None
        else None
    )
    return PricedCart(cart, priced, method, shipping, address, rate, cart_totals)


def _priced(line: CartLine, variant: SellableVariant | None) -> PricedLine:
    return PricedLine(line, variant, availability_of(variant, line.quantity))


def availability_of(variant: SellableVariant | None, quantity: int) -> Availability:
    """Whether `quantity` units of the variant (None: gone) can be bought now."""
    if variant is None or not variant.purchasable or variant.unit_price_minor is None:
        return Availability.UNAVAILABLE
    if variant.available_quantity < quantity:
        return Availability.NOT_ENOUGH
    return Availability.AVAILABLE


def require_shipping_price(cart: PricedCart) -> int:
    if cart.shipping_minor is None:
        raise ShippingNotAvailable()
    return cart.shipping_minor
