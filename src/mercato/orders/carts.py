"""Carts: a customer's own, or a guest's found by its unguessable token; their lines,
shipping address and method; the guest cart merged into the customer's when a signed-in
request presents its token. Reading a cart prices it from the catalog (`priced_carts`).

A guest's token is 256 random bits, shown once (when the cart is made) and stored only as
its SHA-256: a leaked database does not hand out carts. A cart holds one currency, set by
its first line. Every change is one unit of work under the cart's row lock.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mercato.catalog import SellableVariant, sellable_variants
from mercato.orders.addresses import ShippingAddress, open_address, seal_address
from mercato.orders.errors import (
    CartCurrencyMismatch,
    CartFull,
    CartLineNotFound,
    CartNotFound,
    CurrencyRequired,
    NotEnoughStock,
    QuantityTooLarge,
    ShippingMethodNotFound,
    VariantNotSellable,
)
from mercato.orders.models import Cart, CartLine
from mercato.orders.repository import OrdersRepository
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.ids import uuid7
from mercato.platform.security.fields import FieldKeyRing

CART_TABLE = "orders_cart"
TOKEN_BYTES = 32


def new_cart_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class CartOwner:
    """Whose cart: a signed-in customer's, or the guest's holding the token."""

    customer_id: uuid.UUID | None = None
    token_hash: bytes | None = None

    @classmethod
    def customer(cls, customer_id: uuid.UUID) -> CartOwner:
        return cls(customer_id=customer_id)

    @classmethod
    def guest(cls, token: str) -> CartOwner:
        return cls(token_hash=hash_token(token))


@dataclass(frozen=True, slots=True)
class CartLimits:
    max_line_quantity: int
    max_cart_lines: int
    # Off (`CATALOG_EXPOSE_STOCK_COUNTS` false): a line takes any quantity up to the line
    # maximum while the variant is in stock at all, and checkout's reservation enforces
    # the count (409 `out-of-stock`). A refusal at the exact count would let anyone find
    # the count by bisection.
    stock_counts_shown: bool = False


async def create_guest_cart(uow: UnitOfWork) -> tuple[Cart, str]:
    """A new guest cart, and its token (the only time the token exists in clear)."""
    token = new_cart_token()
    async with uow:
        cart = Cart(id=uuid7(), token_hash=hash_token(token), version=1)
        OrdersRepository(uow.session).add(cart)
        await uow.commit()
    return cart, token


async def _cart_for_change(repo: OrdersRepository, owner: CartOwner, *, create: bool) -> Cart:
    if owner.customer_id is not None:
        cart = await repo.customer_cart_for_update(owner.customer_id)
        if cart is None and create:
            cart = await repo.add_customer_cart(Cart(id=uuid7(), customer_id=owner.customer_id))
    else:
        assert owner.token_hash is not None
        cart = await repo.guest_cart_for_update(owner.token_hash)
    if cart is None:
        raise CartNotFound()
    return cart


def _touch(cart: Cart) -> None:
    cart.version += 1
    cart.updated_at = utc_now()


async def add_line(
    uow: UnitOfWork,
    *,
    owner: CartOwner,
    variant_id: uuid.UUID,
    quantity: int,
    currency: str | None,
    limits: CartLimits,
) -> None:
    """Add `quantity` units of a variant (added to a line already there). The first line
    sets the cart's currency; another currency is a 409 while the cart holds lines."""
    async with uow:
        repo = OrdersRepository(uow.session)
        cart = await _cart_for_change(repo, owner, create=True)
        lines = await repo.cart_lines(cart.id)
        currency = _cart_currency(cart, lines, currency)
        existing = next((line for line in lines if line.variant_id == variant_id), None)
        if existing is None and len(lines) >= limits.max_cart_lines:
            raise CartFull(f"A cart holds at most {limits.max_cart_lines} lines.")
        wanted = quantity + (existing.quantity if existing is not None else 0)
        variant = await _sellable(uow.session, variant_id, currency=currency)
        _check_quantity(wanted, variant, limits)
        assert variant.unit_price_minor is not None
        await repo.put_line(
            CartLine(
                cart_id=cart.id,
                variant_id=variant_id,
                quantity=wanted,
                added_unit_price_minor=variant.unit_price_minor,
            )
        )
        cart.currency = currency
        _touch(cart)
        await uow.commit()


def _cart_currency(cart: Cart, lines: Sequence[CartLine], asked: str | None) -> str:
    if not lines or cart.currency is None:
        if asked is None:
            raise CurrencyRequired("Name the currency of the cart with its first line.")
        return asked
    if asked is not None and asked != cart.currency:
        raise CartCurrencyMismatch(f"This cart is in {cart.currency}.")
    return cart.currency


async def set_line_quantity(
    uow: UnitOfWork,
    *,
    owner: CartOwner,
    variant_id: uuid.UUID,
    quantity: int,
    limits: CartLimits,
) -> None:
    """Set a line's quantity (the price it is compared with becomes today's)."""
    async with uow:
        repo = OrdersRepository(uow.session)
        cart = await _cart_for_change(repo, owner, create=False)
        lines = await repo.cart_lines(cart.id)
        if not any(line.variant_id == variant_id for line in lines) or cart.currency is None:
            raise CartLineNotFound()
        variant = await _sellable(uow.session, variant_id, currency=cart.currency)
        _check_quantity(quantity, variant, limits)
        assert variant.unit_price_minor is not None
        await repo.put_line(
            CartLine(
                cart_id=cart.id,
                variant_id=variant_id,
                quantity=quantity,
                added_unit_price_minor=variant.unit_price_minor,
            )
        )
        _touch(cart)
        await uow.commit()


async def remove_line(uow: UnitOfWork, *, owner: CartOwner, variant_id: uuid.UUID) -> None:
    async with uow:
        repo = OrdersRepository(uow.session)
        cart = await _cart_for_change(repo, owner, create=False)
        if not await repo.remove_line(cart.id, variant_id):
            raise CartLineNotFound()
        _touch(cart)
        await uow.commit()


async def set_shipping(
    uow: UnitOfWork,
    *,
    owner: CartOwner,
    address: ShippingAddress,
    method_code: str,
    field_keys: FieldKeyRing,
) -> None:
    """Where and how the cart ships: the address sealed (encrypted, bound to this cart's
    row), its country in clear (the tax rate), an active shipping method."""
    async with uow:
        repo = OrdersRepository(uow.session)
        cart = await _cart_for_change(repo, owner, create=True)
        method = await repo.shipping_method_by_code(method_code)
        if method is None or not method.active:
            raise ShippingMethodNotFound()
        cart.shipping_method_id = method.id
        cart.shipping_country = address.country
        cart.shipping_address_encrypted = seal_address(
            field_keys, address, table=CART_TABLE, row_id=cart.id
        )
        _touch(cart)
        await uow.commit()


async def merge_guest_cart(
    uow: UnitOfWork,
    *,
    customer_id: uuid.UUID,
    token: str,
    limits: CartLimits,
    field_keys: FieldKeyRing,
) -> bool:
    """Fold a guest's cart into the signed-in customer's (then forget it); False when the
    token names no cart (merged already, or never was).

    Same currency (or an empty customer cart): the lines are added up, each capped at the
    line maximum, the lines beyond the cart maximum dropped. Another currency: the guest's
    cart wins (it is what the customer just built). The guest's address and method are
    kept when the customer's cart has none."""
    async with uow:
        repo = OrdersRepository(uow.session)
        guest = await repo.guest_cart_for_update(hash_token(token))
        if guest is None:
            await uow.commit()
            return False
        guest_lines = await repo.cart_lines(guest.id)
        mine = await _cart_for_change(repo, CartOwner.customer(customer_id), create=True)
        my_lines = {line.variant_id: line for line in await repo.cart_lines(mine.id)}
        if guest_lines and my_lines and mine.currency != guest.currency:
            await repo.empty_cart(mine.id)
            my_lines = {}
        for line in guest_lines:
            held = my_lines.get(line.variant_id)
            if held is None and len(my_lines) >= limits.max_cart_lines:
                continue
            quantity = min(limits.max_line_quantity, line.quantity + (held.quantity if held else 0))
            merged = CartLine(
                cart_id=mine.id,
                variant_id=line.variant_id,
                quantity=quantity,
                added_unit_price_minor=line.added_unit_price_minor,
            )
            await repo.put_line(merged)
            my_lines[line.variant_id] = merged
        if guest_lines:
            mine.currency = guest.currency
        if mine.shipping_address_encrypted is None and guest.shipping_address_encrypted:
            address = open_address(
                field_keys, guest.shipping_address_encrypted, table=CART_TABLE, row_id=guest.id
            )
            mine.shipping_address_encrypted = seal_address(
                field_keys, address, table=CART_TABLE, row_id=mine.id
            )
            mine.shipping_country = guest.shipping_country
            mine.shipping_method_id = mine.shipping_method_id or guest.shipping_method_id
        await repo.delete_cart(guest.id)
        _touch(mine)
        await uow.commit()
    return True


async def _sellable(
    session: AsyncSession, variant_id: uuid.UUID, *, currency: str
) -> SellableVariant:
    found = (await sellable_variants(session, [variant_id], currency=currency)).get(variant_id)
    if found is None or not found.purchasable or found.unit_price_minor is None:
        raise VariantNotSellable(f"This variant cannot be bought in {currency}.")
    return found


def _check_quantity(quantity: int, variant: SellableVariant, limits: CartLimits) -> None:
    if quantity > limits.max_line_quantity:
        raise QuantityTooLarge(f"A line holds at most {limits.max_line_quantity} units.")
    if limits.stock_counts_shown and quantity > variant.available_quantity:
        raise NotEnoughStock("Fewer units are available than the line asks for.")
    if variant.available_quantity < 1:  # what product pages say anyway ("available": false)
        raise NotEnoughStock("This variant is out of stock.")
