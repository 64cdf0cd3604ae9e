"""Checkout: the customer's cart becomes an order holding its stock, in one transaction.

In that transaction: the request's Idempotency-Key is claimed (a retry replays; a
concurrent twin waits on the key's row, then replays), the stock of every line reserved
through catalog's surface (variant-id order: concurrent checkouts cannot deadlock; one
conditional UPDATE per variant: no oversell), the order written with a price snapshot of
each line and `reserved_until`, the saga row, the `orders.order.placed` event, the cart
emptied, and the answer stored with the key. Then, outside it, the payments service is
asked for the intent (`saga.create_intent_step`); if it cannot be reached the order waits
for the saga's job and the answer says the payment step is pending.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import Response

from mercato.catalog import StockLine, reserve_stock
from mercato.orders.addresses import seal_address
from mercato.orders.carts import Availability, PricedCart, price_cart
from mercato.orders.errors import CartChanged, CartEmpty, CartNotReady, TooManyPendingOrders
from mercato.orders.events import OrderLinePlaced, OrderPlaced
from mercato.orders.models import CheckoutSaga, Order, OrderLine
from mercato.orders.repository import OrdersRepository
from mercato.orders.saga import customer_actor, record_history
from mercato.orders.states import OrderStatus
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
    render: Callable[[Order, list[OrderLine]], Response],
) -> Placed:
    async with uow:
        replay = await claim.claim_in(uow.session)
        if replay is not None:
            return Placed(replay, None)
        repo = OrdersRepository(uow.session)
        cart = await repo.customer_cart_for_update(checkout.customer_id)
        if cart is None:
            raise CartEmpty("Add something to the cart first.")
        if (
            checkout.max_pending_orders is not None
            # Counted under the cart's lock: a customer's checkouts run one at a time.
            and await repo.pending_orders_of(checkout.customer_id) >= checkout.max_pending_orders
        ):
            raise TooManyPendingOrders("Pay for or cancel an unpaid order first.")
        priced = await price_cart(uow.session, cart, field_keys=field_keys)
        _check_ready(priced, checkout.expected_total_minor)
        lines = [
            StockLine(variant_id=line.line.variant_id, quantity=line.line.quantity)
            for line in priced.lines
        ]
        await reserve_stock(uow, lines)
        order, order_lines = _order_of(priced, checkout, field_keys=field_keys)
        repo.add(order)
        await repo.flush()  # the order row first: its lines and saga refer to it
        for line in order_lines:
            repo.add(line)
        repo.add(CheckoutSaga(order_id=order.id, stock="reserved", payment="intent_pending"))
        record_history(
            repo, order, from_status=None, event="placed", actor=customer_actor(order.customer_id)
        )
        uow.publish(_placed_event(order, order_lines), aggregate_id=order.id)
        await repo.empty_cart(cart.id)
        cart.version += 1
        cart.updated_at = utc_now()
        await repo.flush()
        response = render(order, order_lines)
        await claim.complete_in(uow.session, response)
        await uow.commit()
    return Placed(response, order.id)


def _check_ready(priced: PricedCart, expected_total: int | None) -> None:
    if not priced.lines:
        raise CartEmpty("Add something to the cart first.")
    if any(line.availability is Availability.UNAVAILABLE for line in priced.lines):
        raise CartChanged("A line of the cart is no longer for sale: remove it first.")
    if priced.totals is None or priced.address is None or priced.method is None:
        raise CartNotReady("Set a shipping address (in a country we ship to) and a method.")
    if expected_total is not None and expected_total != priced.totals.total_minor:
        raise CartChanged(
            f"The total is now {priced.totals.total_minor} minor units: review the cart."
        )


def _order_of(
    priced: PricedCart, checkout: Checkout, *, field_keys: FieldKeyRing
) -> tuple[Order, list[OrderLine]]:
    assert priced.cart is not None
    assert priced.cart.currency is not None
    assert priced.totals is not None
    assert priced.address is not None
    assert priced.method is not None
    order_id = uuid7()
    now = utc_now()
    order = Order(
        id=order_id,
        customer_id=checkout.customer_id,
        status=OrderStatus.PENDING_PAYMENT.value,
        currency=priced.cart.currency,
        subtotal_minor=priced.totals.subtotal_minor,
        shipping_minor=priced.totals.shipping_minor,
        tax_minor=priced.totals.tax_minor,
        total_minor=priced.totals.total_minor,
        refunded_minor=0,
        tax_rate_bp=priced.totals.tax_rate_bp,
        shipping_method_code=priced.method.code,
        shipping_country=priced.address.country,
        shipping_address_encrypted=seal_address(
            field_keys, priced.address, table=ORDER_TABLE, row_id=order_id
        ),
        reserved_until=now + checkout.reservation_ttl,
        version=1,
        created_at=now,
        updated_at=now,
    )
    lines = []
    for position, line in enumerate(priced.lines):
        variant = line.variant
        assert variant is not None
        assert variant.unit_price_minor is not None
        lines.append(
            OrderLine(
                order_id=order_id,
                variant_id=variant.variant_id,
                product_id=variant.product_id,
                category_id=variant.category_id,
                position=position,
                sku=variant.sku,
                product_name=variant.product_name,
                title=variant.title,
                unit_price_minor=variant.unit_price_minor,
                quantity=line.line.quantity,
                line_total_minor=variant.unit_price_minor * line.line.quantity,
            )
        )
    return order, lines


def _placed_event(order: Order, lines: list[OrderLine]) -> OrderPlaced:
    return OrderPlaced(
        order_id=order.id,
        customer_id=order.customer_id,
        currency=order.currency,
        total_minor=order.total_minor,
        reserved_until=order.reserved_until.isoformat(),
        lines=[
            OrderLinePlaced(
                variant_id=line.variant_id,
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price_minor=line.unit_price_minor,
            )
            for line in lines
        ],
    )
