"""Staff and orders: search every order (status, customer email, dates, totals; keyset
pages on indexes), read any order and its history, fulfil; customers and strangers are
kept out, hostile parameters are a 422 problem."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.catalog import StockLine, reserve_stock, sellable_variants
from mercato.orders.admin_search import (
    ORDER_SORT_FIELDS,
    ORDER_TIEBREAKER,
    OrderCriteria,
    order_search,
)
from mercato.orders.services import OrdersServices
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.deps import runtime_of
from mercato.platform.listing import Sort, page_statement
from tests.integration.catalog.conftest import counted_statements, create_product
from tests.integration.orders.admin_support import Line, insert_order
from tests.support.identity import bearer, seed_account

ORDERS = "/api/v1/admin/orders"
DAY = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


@pytest.fixture
async def staff(client: httpx.AsyncClient, connection: AsyncConnection) -> dict[str, str]:
    await seed_account(connection, email="clerk@shop.example", roles=("staff",))
    return await bearer(client, "clerk@shop.example")


@pytest.fixture
async def shop(connection: AsyncConnection) -> dict[str, uuid.UUID]:
    """Two customers' orders over three days, in several statuses and totals."""
    ada = await seed_account(connection, email="ada@example.com")
    bob = await seed_account(connection, email="bob@example.com")
    made = {
        "ada_paid": await insert_order(
            connection, customer_id=ada, lines=[Line(2500)], created_at=DAY
        ),
        "ada_pending": await insert_order(
            connection,
            customer_id=ada,
            lines=[Line(900, 2)],
            status="pending_payment",
            created_at=DAY + dt.timedelta(days=1),
        ),
        "bob_fulfilled": await insert_order(
            connection,
            customer_id=bob,
            lines=[Line(12000)],
            status="fulfilled",
            created_at=DAY + dt.timedelta(days=2),
        ),
        "bob_canceled": await insert_order(
            connection,
            customer_id=bob,
            lines=[Line(300)],
            status="canceled",
            created_at=DAY + dt.timedelta(days=2, hours=1),
        ),
    }
    return {"ada": ada, "bob": bob, **made}


async def ids(client: httpx.AsyncClient, headers: dict[str, str], query: str) -> list[str]:
    response = await client.get(f"{ORDERS}?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_staff_filter_every_order_by_status_email_dates_and_totals(
    client: httpx.AsyncClient, staff: dict[str, str], shop: dict[str, uuid.UUID]
) -> None:
    def named(*names: str) -> list[str]:
        return [str(shop[name]) for name in names]

    newest_first = named("bob_canceled", "bob_fulfilled", "ada_pending", "ada_paid")
    assert await ids(client, staff, "") == newest_first
    assert await ids(client, staff, "status=paid") == named("ada_paid")
    # Email: exact, whatever its case; an address nobody registered finds nothing.
    assert await ids(client, staff, "email=ADA@example.com") == named("ada_pending", "ada_paid")
    assert await ids(client, staff, "email=nobody@example.com") == []
    assert await ids(client, staff, f"email=ada@example.com&customer_id={shop['bob']}") == []
    assert await ids(client, staff, f"customer_id={shop['bob']}") == named(
        "bob_canceled", "bob_fulfilled"
    )
    after = (DAY + dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    before = (DAY + dt.timedelta(days=2)).isoformat().replace("+00:00", "Z")
    assert await ids(client, staff, f"created_after={after}&created_before={before}") == named(
        "ada_pending"
    )
    assert await ids(client, staff, "min_total=1000&max_total=2500") == named(
        "ada_pending", "ada_paid"
    )
    assert await ids(client, staff, "sort=-total") == named(
        "bob_fulfilled", "ada_paid", "ada_pending", "bob_canceled"
    )


async def test_keyset_pages_walk_every_order_once(
    client: httpx.AsyncClient, staff: dict[str, str], shop: dict[str, uuid.UUID]
) -> None:
    seen: list[str] = []
    url: str | None = f"{ORDERS}?limit=1&sort=total"
    while url is not None:
        response = await client.get(url, headers=staff)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        if page["next"] is not None:
            assert response.headers["Link"] == f'<{page["next"]}>; rel="next"'
        url = page["next"]
    assert len(seen) == 4
    assert set(seen) == {str(shop[name]) for name in shop if "_" in name}


async def test_staff_read_any_order_with_its_lines_and_history(
    client: httpx.AsyncClient, staff: dict[str, str], shop: dict[str, uuid.UUID]
) -> None:
    order_id = shop["ada_paid"]
    response = await client.get(f"{ORDERS}/{order_id}", headers=staff)
    assert response.status_code == 200
    order = response.json()
    assert order["customer_id"] == str(shop["ada"])
    assert [line["line_total_minor"] for line in order["lines"]] == [2500]
    history = (await client.get(f"{ORDERS}/{order_id}/history", headers=staff)).json()
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in history["entries"]] == [
        (None, "pending_payment", f"customer:{shop['ada']}"),
        ("pending_payment", "paid", "payments"),
    ]
    assert all(entry["at"] for entry in history["entries"])
    missing = await client.get(f"{ORDERS}/{uuid.uuid4()}", headers=staff)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"{ORDERS}/{uuid.uuid4()}/history", headers=staff)).status_code == 404


async def test_fulfilling_a_paid_order_is_in_its_history_and_its_events(
    client: httpx.AsyncClient,
    staff: dict[str, str],
    shop: dict[str, uuid.UUID],
    connection: AsyncConnection,
) -> None:
    order_id = shop["ada_paid"]
    response = await client.post(f"{ORDERS}/{order_id}/fulfil", headers=staff)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "fulfilled"
    assert response.json()["fulfilled_at"] is not None
    history = (await client.get(f"{ORDERS}/{order_id}/history", headers=staff)).json()
    last = history["entries"][-1]
    clerk = await connection.scalar(
        text("SELECT id FROM identity_user WHERE email = 'clerk@shop.example'")
    )
    assert (last["from_status"], last["to_status"], last["actor"]) == (
        "paid",
        "fulfilled",
        f"admin:{clerk}",
    )
    events = await connection.scalar(
        text(
            "SELECT count(*) FROM platform_outbox"
            " WHERE name = 'orders.order.fulfilled' AND aggregate_id = :id"
        ),
        {"id": str(order_id)},
    )
    assert events == 1
    again = await client.post(f"{ORDERS}/{order_id}/fulfil", headers=staff)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/illegal-order-transition")
    pending = await client.post(f"{ORDERS}/{shop['ada_pending']}/fulfil", headers=staff)
    assert pending.status_code == 409


async def test_customers_and_strangers_are_kept_out(
    client: httpx.AsyncClient, connection: AsyncConnection, shop: dict[str, uuid.UUID]
) -> None:
    customer = await bearer(client, "ada@example.com")
    for method, path in (
        ("GET", ORDERS),
        ("GET", f"{ORDERS}/{shop['ada_paid']}"),
        ("GET", f"{ORDERS}/{shop['ada_paid']}/history"),
        ("POST", f"{ORDERS}/{shop['ada_paid']}/fulfil"),
        ("POST", f"{ORDERS}/{shop['ada_pending']}/cancel"),
        ("GET", "/api/v1/admin/reports/sales?from=2026-11-01&to=2026-11-30"),
        ("POST", "/api/v1/admin/reports/sales/refresh"),
    ):
        assert (await client.request(method, path, headers=customer)).status_code == 403, path
        assert (await client.request(method, path)).status_code == 401, path


@pytest.mark.parametrize(
    "query",
    [
        "min_total=500&max_total=100",
        "min_total=-1",
        "max_total=99999999999999999999",
        "status=lost",
        "email=a%00b@example.com",
        "email=" + "a" * 321,
        "created_after=2026-11-20T00:00:00",
        "created_after=2026-11-21T00:00:00Z&created_before=2026-11-20T00:00:00Z",
        "sort=pg_sleep(1)",
        "cursor=bm90LWEtY3Vyc29y",
        "currency=eur",
        "limit=0",
        "unknown=1",
    ],
)
async def test_hostile_search_parameters_are_a_422_problem(
    client: httpx.AsyncClient, staff: dict[str, str], query: str
) -> None:
    response = await client.get(f"{ORDERS}?{query}", headers=staff)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("criteria", "sort", "index"),
    [
        (OrderCriteria(), "-created_at", "ix_orders_order_created"),
        (
            OrderCriteria(status="partially_refunded"),
            "-created_at",
            "ix_orders_order_status_created",
        ),
        (
            OrderCriteria(customer_ids=[uuid.UUID(int=7)]),
            "-created_at",
            "ix_orders_order_customer_created",
        ),
        (OrderCriteria(min_total=100_000, max_total=100_100), "total", "ix_orders_order_total"),
        (
            OrderCriteria(
                created_after=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                created_before=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
            ),
            "-created_at",
            "ix_orders_order_created",
        ),
    ],
)
async def test_each_search_shape_is_served_by_an_index(
    connection: AsyncConnection, criteria: OrderCriteria, sort: str, index: str
) -> None:
    await connection.execute(text("SET LOCAL statement_timeout = '60s'"))
    # 20,000 orders of 500 customers over 5 months, totals up to 2,000.00; most are fulfilled,
    # 1 % partially refunded (what staff look for is rarely the common case).
    await connection.execute(
        text(
            "INSERT INTO orders_order (id, customer_id, status, currency, subtotal_minor,"
            " shipping_minor, tax_minor, total_minor, tax_rate_bp, shipping_method_code,"
            " shipping_country, shipping_address_encrypted, reserved_until, created_at)"
            " SELECT gen_random_uuid(), ('00000000-0000-0000-0000-' || lpad((n % 500)::text,"
            " 12, '0'))::uuid, CASE WHEN n % 100 = 0 THEN 'partially_refunded'"
            " WHEN n % 100 < 4 THEN 'pending_payment' WHEN n % 100 < 8 THEN 'canceled'"
            " WHEN n % 100 < 30 THEN 'paid' ELSE 'fulfilled' END,"
            " 'EUR', (n * 7919) % 200000, 0, 0,"
            " (n * 7919) % 200000, 0, 'standard', 'FR', '{}', now(),"
            " timestamptz '2026-01-01' + n * interval '10 minutes'"
            " FROM generate_series(1, 20000) AS n"
        )
    )
    await connection.execute(text("ANALYZE orders_order"))
    parsed = Sort.parse(sort, allowed=ORDER_SORT_FIELDS, tiebreaker=ORDER_TIEBREAKER)
    statement = page_statement(order_search(criteria), sort=parsed, cursor=None, limit=50)
    sql = statement.compile(
        dialect=PGDialect_asyncpg(),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
    plan = "\n".join((await connection.execute(text(f"EXPLAIN {sql}"))).scalars())
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


async def test_another_customers_order_is_a_404_for_customers_and_visible_to_staff(
    app: FastAPI,
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    staff: dict[str, str],
    shop: dict[str, uuid.UUID],
) -> None:
    keys = runtime_of({"app": app}).services(OrdersServices).field_keys
    adas = await insert_order(connection, customer_id=shop["ada"], lines=[Line(1)], field_keys=keys)
    bobs = await insert_order(connection, customer_id=shop["bob"], lines=[Line(2)], field_keys=keys)
    bob = await bearer(client, "bob@example.com")
    theirs = await client.get(f"/api/v1/orders/{adas}", headers=bob)
    missing = await client.get(f"/api/v1/orders/{uuid.uuid4()}", headers=bob)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["type"] == missing.json()["type"]
    assert (await client.get(f"/api/v1/orders/{bobs}", headers=bob)).status_code == 200
    assert (await client.get(f"{ORDERS}/{adas}", headers=staff)).status_code == 200


async def test_canceling_an_unpaid_order_releases_its_stock_and_says_who_did_it(
    client: httpx.AsyncClient,
    staff: dict[str, str],
    shop: dict[str, uuid.UUID],
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
) -> None:
    product = await create_product(client, staff, on_hand=5)
    variant = uuid.UUID((product.get("variants") or [product])[0]["id"])
    async with UnitOfWork(database) as uow:
        await reserve_stock(uow, [StockLine(variant_id=variant, quantity=2)])
        await uow.commit()
    order = await insert_order(
        connection,
        customer_id=shop["ada"],
        status="pending_payment",
        lines=[Line(1000, 2, variant_id=variant, product_id=uuid.UUID(product["id"]))],
    )

    async def available() -> int:
        async with database.session() as session:
            found = await sellable_variants(session, [variant], currency="EUR")
        return found[variant].available_quantity

    assert await available() == 3
    response = await client.post(
        f"{ORDERS}/{order}/cancel", json={"reason": "out_of_paper"}, headers=staff
    )
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["cancel_reason"]) == (
        "canceled",
        "out_of_paper",
    )
    assert await available() == 5
    last = (await client.get(f"{ORDERS}/{order}/history", headers=staff)).json()["entries"][-1]
    assert (last["to_status"], last["actor"].split(":")[0]) == ("canceled", "admin")
    canceled = await connection.scalar(
        text("SELECT count(*) FROM platform_outbox WHERE name = 'orders.order.canceled'")
    )
    assert canceled == 1
    again = await client.post(f"{ORDERS}/{order}/cancel", headers=staff)
    assert again.status_code == 409
    paid = await client.post(f"{ORDERS}/{shop['ada_paid']}/cancel", headers=staff)
    assert paid.status_code == 409
    assert paid.json()["type"].endswith("/illegal-order-transition")


async def test_refunds_need_a_key_a_paid_order_and_a_positive_amount(
    client: httpx.AsyncClient, staff: dict[str, str], shop: dict[str, uuid.UUID]
) -> None:
    refunds = f"{ORDERS}/{shop['ada_paid']}/refunds"
    keyed = {**staff, "Idempotency-Key": "refund-1"}
    missing_key = await client.post(refunds, json={}, headers=staff)
    assert missing_key.status_code == 400
    assert missing_key.json()["type"].endswith("/idempotency-key-required")
    for amount in (0, -5, 10**13, 1.5, "all"):
        response = await client.post(refunds, json={"amount_minor": amount}, headers=keyed)
        assert response.status_code == 422, amount
    unpaid = await client.post(
        f"{ORDERS}/{shop['ada_pending']}/refunds",
        json={},
        headers={**keyed, "Idempotency-Key": "r2"},
    )
    assert unpaid.status_code == 409
    unknown = await client.post(
        f"{ORDERS}/{uuid.uuid4()}/refunds", json={}, headers={**keyed, "Idempotency-Key": "r3"}
    )
    assert unknown.status_code == 404
    too_much = await client.post(
        refunds, json={"amount_minor": 2501}, headers={**keyed, "Idempotency-Key": "r4"}
    )
    assert too_much.status_code == 409
    assert too_much.json()["type"].endswith("/refund-too-large")


async def test_a_page_of_the_search_costs_the_same_statements_for_1_or_30_orders(
    client: httpx.AsyncClient,
    staff: dict[str, str],
    connection: AsyncConnection,
    shop: dict[str, uuid.UUID],
) -> None:
    async def statements(query: str) -> int:
        async with counted_statements(connection) as sent:
            response = await client.get(f"{ORDERS}?{query}", headers=staff)
        assert response.status_code == 200
        return len(sent)

    one = await statements("email=bob@example.com&status=fulfilled")
    for _ in range(30):
        await insert_order(
            connection, customer_id=shop["bob"], lines=[Line(700)], status="fulfilled"
        )
    assert await statements("email=bob@example.com&status=fulfilled&limit=100") == one
    assert await statements("limit=100") == one - 1  # no email: identity is not asked
