"""Checkout and payment through the cluster under concurrent load, with one API process and
one payments process SIGKILLed during the run: no oversell, at most one charge per order,
and every order settled (paid or canceled) once the saga has run."""

from __future__ import annotations

import asyncio
import functools
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import cluster as clusters
from tests.support.identity import bearer, seed_account

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

BUYERS = 60
STOCK = 15
SETTLE_S = 120.0
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 rue des Lilas",
    "city": "Lyon",
    "postal_code": "69003",
    "country": "FR",
}


@dataclass
class Figures:
    """What the buyers saw: answers by kind, and the transient failures they retried."""

    outcomes: Counter[str] = field(default_factory=Counter)
    transient: Counter[str] = field(default_factory=Counter)  # "checkout 502", "confirm …"
    orders: dict[uuid.UUID, str] = field(default_factory=dict)  # order id -> buyer's key


@dataclass
class StockWatch:
    """The variant's stock row sampled during the run: its worst moments."""

    samples: int = 0
    lowest_on_hand: int = STOCK
    lowest_reserved: int = 0
    largest_excess: int = -STOCK  # reserved - on_hand, never above 0


async def test_checkout_and_payment_survive_an_api_and_a_payments_kill_without_oversell(
    cluster: clusters.Cluster, primary: asyncpg.Connection
) -> None:
    """60 customers race for 15 units: checkouts and payments through nginx while api-2
    and payments-1 are SIGKILLed; clients retry a failed POST with the same
    Idempotency-Key. Then: one order per customer at most, units sold ≤ stock and the
    stock row never negative nor over-reserved, one intent and exactly one sandbox charge
    per paid order (none for the others), every order paid or canceled."""
    async with clusters.client(cluster.url, source="127.0.0.30") as http:
        admin = {"Authorization": f"Bearer {await clusters.admin_token(cluster, http)}"}
        variant_id = await _sellable_variant(http, admin)
    emails = await _customers(cluster, BUYERS)
    buyers = [
        clusters.client(cluster.url, source=f"127.0.3.{number + 1}", timeout_s=15.0)
        for number in range(BUYERS)
    ]
    figures = Figures()
    watch = StockWatch()
    try:
        # Carts are filled before the race (adding a line is not what is under test): all
        # 60 fit, since availability counts only reservations and nobody has checked out.
        gate = asyncio.Semaphore(8)

        async def prepare(http: httpx.AsyncClient, email: str) -> dict[str, str]:
            async with gate:
                return await _cart_ready(http, email, variant_id)

        headers = await asyncio.gather(*map(prepare, buyers, emails))
        done = asyncio.Event()
        url = cluster.layout.database_url(cluster.layout.primary_port)
        watcher = asyncio.create_task(_watch_stock(url, variant_id, watch, done))
        api_victim, payments_victim = cluster.pid("api-2"), cluster.pid("payments-1")
        logged_before = len(cluster.nginx_log())
        started = time.monotonic()

        async def faults() -> None:
            await asyncio.sleep(0.8)
            cluster.kill("api-2", signal.SIGKILL)
            await asyncio.sleep(1.2)
            cluster.kill("payments-1", signal.SIGKILL)

        purchases = (_buy(http, auth, figures) for http, auth in zip(buyers, headers, strict=True))
        await asyncio.gather(faults(), *purchases)
        clients_done = time.monotonic() - started
        settled_after = await _settle(primary, list(figures.orders)) - started
        done.set()
        await watcher
    finally:
        for http in buyers:
            await http.aclose()
    assert cluster.wait_restarted("api-2", api_victim) != api_victim
    assert cluster.wait_restarted("payments-1", payments_victim) != payments_victim

    orders = await primary.fetch(
        "SELECT o.id, o.customer_id, o.status, o.payment_intent_id, s.status AS saga,"
        " s.stock, s.payment FROM orders_order o JOIN orders_checkout_saga s ON s.order_id = o.id"
        " JOIN identity_user u ON u.id = o.customer_id WHERE u.email = ANY($1::text[])",
        emails,
    )
    stock = await primary.fetchrow(
        "SELECT on_hand, reserved FROM catalog_variant_stock WHERE variant_id = $1", variant_id
    )
    sold = await primary.fetchval(
        "SELECT coalesce(sum(l.quantity), 0) FROM orders_order_line l"
        " JOIN orders_order o ON o.id = l.order_id"
        " WHERE l.variant_id = $1 AND o.status = 'paid'",
        variant_id,
    )
    intents = await primary.fetch(
        "SELECT order_reference, id, status FROM payments.payments_intent"
        " WHERE order_reference = ANY($1::text[])",
        [str(row["id"]) for row in orders],
    )
    charges = Counter(
        row["reference"]
        for row in await primary.fetch(
            "SELECT reference FROM sandbox.ledger_entry"
            " WHERE kind = 'charge' AND reference = ANY($1::text[])",
            [str(row["id"]) for row in intents],
        )
    )
    statuses = Counter(row["status"] for row in orders)
    # nginx's side of the payments calls (intents by the API, confirms by the buyers): a
    # "502, 200" is a request refused by the dead process and passed on to the other one.
    payments_calls = Counter(
        line["upstream_status"]
        for line in cluster.nginx_log()[logged_before:]
        if line["uri"].startswith("/payments/")
    )
    print(  # noqa: T201
        f"\ncheckout under kills: {BUYERS} buyers for {STOCK} units;"
        f" answers {dict(figures.outcomes)}; transient failures retried {dict(figures.transient)};"
        f" payments calls by upstream status {dict(payments_calls)};"
        f" orders {dict(statuses)}; sold {sold}; stock after {dict(stock or {})};"
        f" stock watch {watch}; clients done in {clients_done:.1f} s,"
        f" settled {settled_after:.1f} s after the start"
    )

    # One order per customer: a retried checkout replayed its order, never placed another.
    assert len(orders) == len(figures.orders), (len(orders), figures.orders)
    assert len({row["customer_id"] for row in orders}) == len(orders)
    assert figures.outcomes["placed"] + figures.outcomes["out_of_stock"] == BUYERS
    # No oversell, at any moment sampled and at the end.
    assert watch.samples > 10
    assert watch.lowest_on_hand >= 0, watch
    assert watch.lowest_reserved >= 0, watch
    assert watch.largest_excess <= 0, watch
    assert stock is not None
    assert stock["reserved"] == 0, stock
    assert sold <= STOCK, sold
    assert stock["on_hand"] == STOCK - sold, (sold, stock)
    # Every order settled: paid with its stock committed, or canceled with it released.
    assert set(statuses) <= {"paid", "canceled"}, statuses
    for row in orders:
        expected = ("completed", "committed") if row["status"] == "paid" else ("compensated",)
        assert (row["saga"], row["stock"])[: len(expected)] == expected, dict(row)
    # Someone got every unit (an out-of-stock answer means all 15 were reserved), and paid.
    if statuses["canceled"] == 0:
        assert statuses["paid"] == STOCK, statuses
    assert payments_calls.total() >= 2 * len(orders), payments_calls
    # One intent per order; exactly one charge per paid order, none for the others.
    per_order = Counter(row["order_reference"] for row in intents)
    assert set(per_order.values()) <= {1}, per_order
    intent_of = {row["order_reference"]: str(row["id"]) for row in intents}
    for row in orders:
        charged = charges[intent_of.get(str(row["id"]), "")]
        assert charged == (1 if row["status"] == "paid" else 0), (dict(row), charged)


async def _sellable_variant(http: httpx.AsyncClient, admin: dict[str, str]) -> uuid.UUID:
    """A product with one variant of STOCK units in euros; France shipped at 4.90 + 20 %."""
    slug = f"race-{uuid.uuid4().hex[:10]}"
    created = await http.post(
        "/api/v1/admin/products",
        headers=admin,
        json={
            "slug": slug,
            "name": "Contested tee",
            "status": "active",
            "options": [{"name": "Size", "values": ["S"]}],
            "variants": [
                {
                    "sku": slug.upper(),
                    "options": {"Size": "S"},
                    "on_hand": STOCK,
                    "prices": [{"currency": "EUR", "amount_minor": 1_900}],
                }
            ],
        },
    )
    assert created.status_code == 201, created.text
    method = await http.post(
        "/api/v1/admin/shipping-methods",
        headers=admin,
        json={"code": "standard", "name": "Standard", "prices": {"EUR": 490}},
    )
    assert method.status_code in {201, 409}, method.text
    rate = await http.put("/api/v1/admin/tax-rates/FR", headers=admin, json={"rate_bp": 2000})
    assert rate.status_code in {200, 201}, rate.text
    return uuid.UUID(created.json()["variants"][0]["id"])


async def _customers(cluster: clusters.Cluster, count: int) -> list[str]:
    """`count` verified customers written on the primary (registration is not under test)."""
    emails = [f"buyer-{uuid.uuid4().hex[:12]}@example.com" for _ in range(count)]
    url = cluster.layout.database_url(cluster.layout.primary_port)
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with engine.begin() as connection:
            for email in emails:
                await seed_account(connection, email=email)
    finally:
        await engine.dispose()
    return emails


async def _cart_ready(http: httpx.AsyncClient, email: str, variant_id: uuid.UUID) -> dict[str, str]:
    auth = await bearer(http, email)
    line = await http.post(
        "/api/v1/cart/lines",
        headers=auth,
        json={"variant_id": str(variant_id), "quantity": 1, "currency": "EUR"},
    )
    assert line.status_code in {200, 201}, line.text
    shipping = await http.put(
        "/api/v1/cart/shipping", headers=auth, json={"method": "standard", "address": ADDRESS}
    )
    assert shipping.status_code == 200, shipping.text
    return auth


async def _buy(http: httpx.AsyncClient, auth: dict[str, str], figures: Figures) -> None:
    """Check out, then pay with the test card: every failed POST is sent again with the
    same Idempotency-Key, as a client must."""
    key = f"race-{uuid.uuid4().hex}"
    checkout = await _until_answered(
        lambda: http.post("/api/v1/checkout", headers={**auth, "Idempotency-Key": key}, json={}),
        figures,
        step="checkout",
    )
    if checkout.headers.get("Idempotent-Replayed") == "true":
        figures.outcomes["checkout replayed"] += 1
    if checkout.status_code == 409 and "out-of-stock" in checkout.json().get("type", ""):
        figures.outcomes["out_of_stock"] += 1
        return
    assert checkout.status_code in {200, 201}, checkout.text
    order = checkout.json()
    order_id = uuid.UUID(order["id"])
    figures.outcomes["placed"] += 1
    figures.orders[order_id] = key
    confirm_url = await _confirm_url(http, auth, order, figures)
    await _pay(http, auth, confirm_url, key, figures)


async def _pay(
    http: httpx.AsyncClient, auth: dict[str, str], confirm_url: str, key: str, figures: Figures
) -> None:
    """Confirm with the test card. A 409 "in flight" means the first confirmation's process
    died with the attempt stored: read the intent until the reconciler has settled it, and
    pay again (a new key) if that attempt did not."""
    for round_number in range(3):
        headers = {**auth, "Idempotency-Key": f"{key}-pay-{round_number}"}
        paid = await _until_answered(
            functools.partial(
                http.post, confirm_url, headers=headers, json={"payment_method": "pm_card_visa"}
            ),
            figures,
            step="confirm",
        )
        body = paid.json()
        figures.outcomes[f"confirm {paid.status_code} {body.get('status')}"] += 1
        if paid.status_code != 409 or "in-flight" not in body.get("type", ""):
            return
        if await _settled_intent(http, auth, confirm_url.removesuffix("/confirm"), figures):
            return
    pytest.fail(f"not paid after 3 confirmations: {confirm_url}")


async def _settled_intent(
    http: httpx.AsyncClient, auth: dict[str, str], intent_url: str, figures: Figures
) -> bool:
    """Wait (bounded) for the intent to leave `processing`: True when it is paid."""
    deadline = time.monotonic() + 90.0
    while time.monotonic() < deadline:
        read = await _until_answered(
            lambda: http.get(intent_url, headers=auth), figures, step="intent read"
        )
        assert read.status_code == 200, read.text
        status: str = read.json()["status"]
        if status != "processing":
            figures.outcomes[f"intent settled {status}"] += 1
            return status == "succeeded"
        await asyncio.sleep(1.0)
    pytest.fail(f"{intent_url} still processing after 90 s")


async def _confirm_url(
    http: httpx.AsyncClient, auth: dict[str, str], order: dict[str, Any], figures: Figures
) -> str:
    """The order's confirm_url: in the checkout's answer, or, when payments was away at
    checkout, once the saga's job has created the intent (read the order again)."""
    deadline = time.monotonic() + 60.0
    read_order = f"/api/v1/orders/{order['id']}"
    while True:
        payment = order.get("payment") or {}
        if payment.get("confirm_url"):
            url: str = payment["confirm_url"]
            return url
        figures.outcomes["intent created later"] += 1 if payment.get("status") == "pending" else 0
        assert time.monotonic() < deadline, order
        await asyncio.sleep(1.0)
        read = await _until_answered(
            lambda: http.get(read_order, headers=auth), figures, step="order read"
        )
        assert read.status_code == 200, read.text
        order = read.json()


async def _until_answered(
    send: Callable[[], Awaitable[httpx.Response]],
    figures: Figures,
    *,
    step: str,
    tries: int = 12,
) -> httpx.Response:
    """Send until an answer that is not a 5xx: the transient failures are counted."""
    for attempt in range(tries):
        try:
            answer = await send()
        except httpx.TransportError as error:
            figures.transient[f"{step} {type(error).__name__}"] += 1
        else:
            if answer.status_code < 500:
                return answer
            figures.transient[f"{step} {answer.status_code}"] += 1
        await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
    pytest.fail(f"no answer but failures after {tries} tries: {figures.transient}")


async def _watch_stock(
    url: str, variant_id: uuid.UUID, watch: StockWatch, done: asyncio.Event
) -> None:
    """Sample the stock row every 0.1 s on a connection of its own until `done`."""
    connection = await asyncpg.connect(url)
    try:
        while not done.is_set():
            row = await connection.fetchrow(
                "SELECT on_hand, reserved FROM catalog_variant_stock WHERE variant_id = $1",
                variant_id,
            )
            assert row is not None
            watch.samples += 1
            watch.lowest_on_hand = min(watch.lowest_on_hand, row["on_hand"])
            watch.lowest_reserved = min(watch.lowest_reserved, row["reserved"])
            watch.largest_excess = max(watch.largest_excess, row["reserved"] - row["on_hand"])
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


async def _settle(primary: asyncpg.Connection, order_ids: list[uuid.UUID]) -> float:
    """Wait (bounded) until every order is paid or canceled and its saga has finished;
    the moment it happened."""
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        unsettled = await primary.fetchval(
            "SELECT count(*) FROM orders_order o JOIN orders_checkout_saga s ON s.order_id = o.id"
            " WHERE o.id = ANY($1::uuid[]) AND (o.status NOT IN ('paid', 'canceled')"
            " OR s.status NOT IN ('completed', 'compensated'))",
            order_ids,
        )
        if unsettled == 0:
            return time.monotonic()
        await asyncio.sleep(0.5)
    rows = await primary.fetch(
        "SELECT o.id, o.status, s.status AS saga, s.stock, s.payment, s.last_error"
        " FROM orders_order o JOIN orders_checkout_saga s ON s.order_id = o.id"
        " WHERE o.id = ANY($1::uuid[]) AND (o.status NOT IN ('paid', 'canceled')"
        " OR s.status NOT IN ('completed', 'compensated'))",
        order_ids,
    )
    pytest.fail(f"not settled after {SETTLE_S} s: {[dict(row) for row in rows]}")
