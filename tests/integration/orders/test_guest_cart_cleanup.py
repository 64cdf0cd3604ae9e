"""The cleanup job's use case: guest carts nobody filled go after an hour, the others after
`ORDERS_GUEST_CART_TTL_DAYS`; customers' carts stay."""

from __future__ import annotations

import datetime as dt
import uuid

from mercato.orders import carts
from mercato.orders.carts import CartOwner
from mercato.orders.config import OrdersSettings
from mercato.orders.tasks import forget_stale_guest_carts
from mercato.platform.ids import uuid7
from tests.integration.orders.conftest import LIMITS, Shop


async def guest_cart(shop: Shop, *, lines: int, untouched_for: dt.timedelta) -> uuid.UUID:
    cart, token = await carts.create_guest_cart(shop.runtime.unit_of_work())
    for _ in range(lines):
        await carts.add_line(
            shop.runtime.unit_of_work(),
            owner=CartOwner.guest(token),
            variant_id=await shop.variant(on_hand=5),
            quantity=1,
            currency="EUR",
            limits=LIMITS,
        )
    await untouched(shop, cart.id, untouched_for)
    return cart.id


async def untouched(shop: Shop, cart_id: uuid.UUID, since: dt.timedelta) -> None:
    await shop.execute(
        "UPDATE orders_cart SET updated_at = now() - CAST(:since AS interval) WHERE id = :id",
        since=since,
        id=cart_id,
    )


async def test_empty_guest_carts_go_after_an_hour_and_filled_ones_after_the_ttl(
    shop: Shop,
) -> None:
    settings = OrdersSettings()
    assert settings.empty_guest_cart_ttl_s == 3_600  # the documented default
    hour, day = dt.timedelta(hours=1), dt.timedelta(days=1)
    stale_empty = await guest_cart(shop, lines=0, untouched_for=hour + dt.timedelta(minutes=1))
    recent_empty = await guest_cart(shop, lines=0, untouched_for=dt.timedelta(minutes=50))
    filled = await guest_cart(shop, lines=2, untouched_for=29 * day)
    abandoned = await guest_cart(shop, lines=1, untouched_for=31 * day)
    emptied = await guest_cart(shop, lines=0, untouched_for=2 * hour)
    customer = uuid7()
    await shop.ready_cart(customer, {await shop.variant(on_hand=1): 1})
    await shop.execute(
        "DELETE FROM orders_cart_line USING orders_cart WHERE cart_id = id AND customer_id = :c",
        c=customer,
    )
    customer_cart = await shop.scalar(
        "SELECT id FROM orders_cart WHERE customer_id = :c", c=customer
    )
    assert isinstance(customer_cart, uuid.UUID)
    await untouched(shop, customer_cart, 400 * day)

    forgotten = await forget_stale_guest_carts(
        shop.runtime.unit_of_work(),
        untouched_for=dt.timedelta(days=settings.guest_cart_ttl_days),
        empty_for=dt.timedelta(seconds=settings.empty_guest_cart_ttl_s),
    )

    mine = [stale_empty, recent_empty, filled, abandoned, emptied, customer_cart]
    kept = await shop.scalar(
        "SELECT array_agg(id ORDER BY id) FROM orders_cart WHERE id = ANY(:ids)", ids=mine
    )
    assert kept == sorted([recent_empty, filled, customer_cart])
    assert forgotten >= 3
    lines_left = await shop.scalar(
        "SELECT count(*) FROM orders_cart_line WHERE cart_id = :id", id=abandoned
    )
    assert lines_left == 0
