"""Zero oversell under concurrency, on real PostgreSQL: the last units, and multi-line
carts over the same variants checking out at once (no deadlock either)."""

from __future__ import annotations

import asyncio
import random
import uuid

from mercato.catalog import OutOfStock
from mercato.platform.ids import uuid7
from tests.integration.orders.conftest import Shop

BUYERS = 200
STOCK = 10


async def _checkouts(shop: Shop, customers: list[uuid.UUID]) -> list[uuid.UUID | BaseException]:
    async def one(customer: uuid.UUID) -> uuid.UUID | BaseException:
        try:
            placed = await shop.checkout(customer)
        except Exception as error:  # noqa: BLE001 - every outcome is counted below
            return error
        assert placed.order_id is not None
        return placed.order_id

    return await asyncio.gather(*(one(customer) for customer in customers))


async def test_200_buyers_for_the_last_10_units_make_exactly_10_orders(shop: Shop) -> None:
    variant = await shop.variant(on_hand=STOCK)
    customers = [uuid7() for _ in range(BUYERS)]
    await shop.ready_carts({customer: {variant: 1} for customer in customers})

    outcomes = await _checkouts(shop, customers)

    placed = [outcome for outcome in outcomes if isinstance(outcome, uuid.UUID)]
    refused = [outcome for outcome in outcomes if not isinstance(outcome, uuid.UUID)]
    assert len(placed) == STOCK, [repr(error) for error in refused[:3]]
    assert all(isinstance(error, OutOfStock) for error in refused), {
        type(error).__name__ for error in refused
    }
    assert {error.code for error in refused if isinstance(error, OutOfStock)} == {"out-of-stock"}
    assert await shop.stock(variant) == (STOCK, STOCK)  # never more reserved than on hand
    holding = await shop.scalar(
        "SELECT count(*) FROM orders_order o JOIN orders_checkout_saga s ON s.order_id = o.id"
        " JOIN orders_order_line l ON l.order_id = o.id"
        " WHERE l.variant_id = :v AND s.stock = 'reserved' AND o.status = 'pending_payment'",
        v=variant,
    )
    assert holding == STOCK


async def test_multi_line_carts_over_the_same_variants_never_deadlock_nor_oversell(
    shop: Shop,
) -> None:
    rng = random.Random(1313)
    variants = [await shop.variant(on_hand=12) for _ in range(5)]
    carts: dict[uuid.UUID, dict[uuid.UUID, int]] = {}
    for _ in range(60):
        chosen = rng.sample(variants, 3)
        rng.shuffle(chosen)  # lines in every order: the reservation sorts them
        carts[uuid7()] = {variant: rng.randint(1, 2) for variant in chosen}
    await shop.ready_carts(carts)

    outcomes = await _checkouts(shop, list(carts))

    unexpected = [
        o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, OutOfStock)
    ]
    assert unexpected == []  # no deadlock, no lock timeout, nothing but out-of-stock
    placed = {
        customer for customer, o in zip(carts, outcomes, strict=True) if isinstance(o, uuid.UUID)
    }
    assert placed, "some carts fit in the stock"
    for variant in variants:
        on_hand, reserved = await shop.stock(variant)
        promised = sum(carts[customer].get(variant, 0) for customer in placed)
        assert (on_hand, reserved) == (12, promised)
        assert reserved <= on_hand
