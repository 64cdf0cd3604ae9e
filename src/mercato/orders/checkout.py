"""Checkout: the customer's cart becomes an order holding its stock, in one transaction.

In that transaction: the request's Idempotency-Key is claimed (a retry replays; a
concurrent twin waits on the key's row, then replays), the cart locked and read with its
shipping price and tax rate, the lines' stock rows locked and priced through catalog's
surface (variant-id order: concurrent checkouts cannot deadlock), checked, then reserved
(all lines or none, against the locked rows: no oversell), the order written with a price
snapshot of each line and `reserved_until`, its saga row and history, the cart emptied,
the answer stored with the key, and the `orders.order.placed` event. Then, outside it, the
payments service is asked for the intent (`saga_payments.create_intent_step`); if it cannot be
reached the order waits for the saga's job and the answer says the payment step is pending.

Eight statements in all, compiled once and sent through the driver
(`checkout_statements.py`): the checkout is the hottest write, and the ORM's per-statement
CPU was most of its cost (docs/benchmarks.md, Checkout).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import Response

from mercato.catalog import HeldStock, hold_stock, reserve_held
from mercato.orders.addresses import open_address, seal_address
from mercato.orders.carts import CART_TABLE
from mercato.orders.checkout_statements import (
    CheckoutCart,
    NewOrder,
    PlacedLine,
    locked_cart,
    write_order,
)
from mercato.orders.errors import CartChanged, CartEmpty, CartNotReady, TooManyPendingOrders
from mercato.orders.events import OrderLinePlaced, OrderPlaced
from mercato.orders.priced_carts import Availability, availability_of
from mercato.orders.pricing import totals
from mercato.orders.saga import customer_actor
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.idempotency import KeyClaim
from mercato.platform.ids import uuid7
from mercato.platform.security.fields import FieldKeyRing

ORDER_TABLE = "orders_order"


@dataclass(frozen=True, slots=True)
class Checkout:
    customer_id: uuid.UUID
    # The total the customer saw; a different one now (a price changed) is a 409.
    expected_total_minor: int | None
    reservation_ttl: dt.timedelta
    # Unpaid orders a customer may hold at once (None: no limit): each holds stock until
    # it expires, so without a cap one account could keep a product unbuyable.
    max_pending_orders: int | None = None


@dataclass(frozen=True, slots=True)
class Placed:
    """The answer to send, and the order to ask an intent for (None on a replay)."""

    response: Response
    order_id: uuid.UUID | None


async def place_order(
    checkout: Checkout,
    *,
    uow: UnitOfWork,
    claim: KeyClaim,
    field_keys: FieldKeyRing,
    render: Callable[[uuid.UUID], Response],
) -> Placed:
    """`render` makes the answer stored with the key from the new order's id."""
    async with uow:
        replay = await claim.claim_on(uow)
        if replay is not None:
            return Placed(replay, None)
        cart = await locked_cart(uow, checkout.customer_id)
        if cart is None:
            raise CartEmpty("Add something to the cart first.")
        if (
            checkout.max_pending_orders is not None
            # Counted under the cart's lock: a customer's checkouts run one at a time.
            and cart.pending_orders >= checkout.max_pending_orders
        ):
            raise TooManyPendingOrders("Pay for or cancel an unpaid order first.")
        if not cart.lines:
            raise CartEmpty("Add something to the cart first.")
        # The stock rows locked and the variants priced in one statement; checked, then
        # reserved: nothing is written when the cart is not ready or a line falls short.
        held = await hold_stock(uow, cart.lines, currency=cart.currency)
        order = _order_of(cart, held, checkout, field_keys=field_keys)
        await reserve_held(uow, held)
        await write_order(uow, order, cart_id=cart.id, actor=customer_actor(order.customer_id))
        uow.publish(_placed_event(order), aggregate_id=order.id)
        response = render(order.id)
        await claim.complete_on(uow, response)
        await uow.commit()
    return Placed(response, order.id)


def _order_of(
    cart: CheckoutCart, held: HeldStock, checkout: Checkout, *, field_keys: FieldKeyRing
) -> NewOrder:
    """The order the cart makes at today's prices; `CartChanged` or `CartNotReady` when it
    cannot be placed as it is."""
    lines = []
    for line in cart.lines:
        variant = held.variants.get(line.variant_id)
        if variant is None or availability_of(variant, line.quantity) is Availability.UNAVAILABLE:
            raise CartChanged("A line of the cart is no longer for sale: remove it first.")
        assert variant.unit_price_minor is not None
        lines.append(PlacedLine(variant, line.quantity, variant.unit_price_minor))
    if (
        cart.currency is None
        or cart.method_code is None
        or cart.shipping_minor is None
        or cart.tax_rate_bp is None
        or cart.shipping_address_encrypted is None
    ):
        raise CartNotReady("Set a shipping address (in a country we ship to) and a method.")
    order_totals = totals(
        (line.line_total_minor for line in lines),
        shipping_minor=cart.shipping_minor,
        rate_bp=cart.tax_rate_bp,
    )
    expected = checkout.expected_total_minor
    if expected is not None and expected != order_totals.total_minor:
        raise CartChanged(
            f"The total is now {order_totals.total_minor} minor units: review the cart."
        )
    address = open_address(
        field_keys, cart.shipping_address_encrypted, table=CART_TABLE, row_id=cart.id
    )
    order_id = uuid7()
    now = utc_now()
    return NewOrder(
        id=order_id,
        customer_id=checkout.customer_id,
        currency=cart.currency,
        subtotal_minor=order_totals.subtotal_minor,
        shipping_minor=order_totals.shipping_minor,
        tax_minor=order_totals.tax_minor,
        tax_rate_bp=order_totals.tax_rate_bp,
        shipping_method_code=cart.method_code,
        shipping_country=address.country,
        shipping_address_encrypted=seal_address(
            field_keys, address, table=ORDER_TABLE, row_id=order_id
        ),
        reserved_until=now + checkout.reservation_ttl,
        created_at=now,
        lines=lines,
    )


def _placed_event(order: NewOrder) -> OrderPlaced:
    return OrderPlaced(
        order_id=order.id,
        customer_id=order.customer_id,
        currency=order.currency,
        total_minor=order.total_minor,
        reserved_until=order.reserved_until.isoformat(),
        lines=[
            OrderLinePlaced(
                variant_id=line.variant.variant_id,
                product_id=line.variant.product_id,
                quantity=line.quantity,
                unit_price_minor=line.unit_price_minor,
            )
            for line in order.lines
        ],
    )
