"""The sales report: what a refresh of the view puts in it (paid orders by day, refunds
spread over lines), how it is grouped and paged, that bad parameters are a 422 problem,
that reads are never blocked while a refresh holds its lock, and the refresh job."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.modules import MODULES
from mercato.orders import reporting
from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase, Database
from mercato.platform.jobs.runtime import JobDependencies, create_job_app, mailer_for
from mercato.platform.runtime import job_blueprints
from tests.conftest import plain_url
from tests.integration.identity.conftest import client_over_real_engine
from tests.integration.orders.admin_support import Line, add_history, insert_order
from tests.support.identity import bearer, seed_account

REPORT = "/api/v1/admin/reports/sales"
PAID = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
KETTLE, MUG = uuid.uuid4(), uuid.uuid4()
KITCHEN = uuid.uuid4()


@pytest.fixture
async def staff(client: httpx.AsyncClient, connection: AsyncConnection) -> dict[str, str]:
    await seed_account(connection, email="clerk@shop.example", roles=("staff",))
    return await bearer(client, "clerk@shop.example")


async def report(
    client: httpx.AsyncClient, headers: dict[str, str], query: str
) -> list[dict[str, Any]]:
    response = await client.get(f"{REPORT}?{query}", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_paid_order_appears_after_a_refresh_with_its_refunds_spread_over_lines(
    client: httpx.AsyncClient,
    staff: dict[str, str],
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
) -> None:
    customer = await seed_account(connection, email="ada@example.com")
    kettle = Line(3000, 1, variant_id=KETTLE, category_id=KITCHEN)
    mugs = Line(500, 2, variant_id=MUG)  # no category
    order = await insert_order(
        connection,
        customer_id=customer,
        lines=[kettle, mugs],
        shipping_minor=1000,
        status="partially_refunded",
        refunded_minor=2500,
        paid_at=PAID,
    )
    # Not sales: an unpaid order, a canceled one, one paid on another day (outside the range).
    await insert_order(connection, customer_id=customer, lines=[kettle], status="pending_payment")
    await insert_order(connection, customer_id=customer, lines=[kettle], status="canceled")
    await insert_order(
        connection, customer_id=customer, lines=[kettle], paid_at=PAID - dt.timedelta(days=30)
    )
    # A refund of 2,500 of the 5,000 total (4,000 of goods): the goods' share is 2,000,
    # 1,500 for the kettle (3,000 of 4,000) and 500 for the mugs.
    await add_history(
        connection,
        order,
        "paid",
        "partially_refunded",
        "refunded",
        "admin:x",
        PAID + dt.timedelta(days=1),
        amount_minor=2500,
    )
    query = "from=2026-11-20&to=2026-11-21&group_by=day,variant"
    assert await report(client, staff, query) == []  # the view is as the last refresh left it

    await reporting.refresh_sales_view(database)

    rows = await report(client, staff, query)
    assert [
        (r["day"], r["variant_id"], r["units"], r["gross_minor"], r["refunds_minor"]) for r in rows
    ] == sorted(
        [
            ("2026-11-20", str(KETTLE), 1, 3000, 0),
            ("2026-11-20", str(MUG), 2, 1000, 0),
            ("2026-11-21", str(KETTLE), 0, 0, 1500),
            ("2026-11-21", str(MUG), 0, 0, 500),
        ]
    )
    assert rows[0]["category_id"] is None  # not asked for
    by_category = await report(client, staff, "from=2026-11-20&to=2026-11-21&group_by=category")
    # No category first (the nil UUID in the view), then the kitchen.
    assert [(r["category_id"], r["net_minor"]) for r in by_category] == [
        (None, 500),
        (str(KITCHEN), 1500),
    ]
    totals = await report(client, staff, "from=2026-11-20&to=2026-11-21&group_by=")
    assert totals == [
        {
            "day": None,
            "currency": "EUR",
            "product_id": None,
            "variant_id": None,
            "category_id": None,
            "units": 3,
            "gross_minor": 4000,
            "refunds_minor": 2000,
            "net_minor": 2000,
        }
    ]


async def test_the_report_says_when_its_view_was_last_refreshed(
    client: httpx.AsyncClient,
    staff: dict[str, str],
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
) -> None:
    await connection.execute(text("DELETE FROM orders_view_refresh"))  # as if never refreshed
    query = f"{REPORT}?from=2026-11-01&to=2026-11-30&group_by="

    never = await client.get(query, headers=staff)
    await reporting.refresh_sales_view(database)
    await reporting.refresh_sales_view(database)
    refreshed = await client.get(query, headers=staff)

    assert never.json()["refreshed_at"] is None
    # In this test's (rolled-back) transaction, now() is its start: the refresh's time.
    started = await connection.scalar(text("SELECT now()"))
    assert dt.datetime.fromisoformat(refreshed.json()["refreshed_at"]) == started
    rows = await connection.execute(text("SELECT view_name FROM orders_view_refresh"))
    assert [row[0] for row in rows] == [reporting.VIEW]  # one row per view, updated


async def test_a_full_refund_cancels_the_gross_exactly_despite_rounding(
    client: httpx.AsyncClient,
    staff: dict[str, str],
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
) -> None:
    customer = await seed_account(connection, email="ada@example.com")
    lines = [Line(333, 1), Line(333, 1), Line(334, 1)]
    order = await insert_order(
        connection,
        customer_id=customer,
        lines=lines,
        shipping_minor=7,
        tax_minor=13,
        status="refunded",
        refunded_minor=1020,
        paid_at=PAID,
    )
    for amount in (1, 1019):  # two refunds, the first of one minor unit
        await add_history(
            connection, order, "paid", "partially_refunded", "refunded", "admin:x", PAID, amount
        )
    await reporting.refresh_sales_view(database)
    rows = await report(client, staff, "from=2026-11-20&to=2026-11-20&group_by=variant")
    assert sum(row["gross_minor"] for row in rows) == 1000
    assert sum(row["refunds_minor"] for row in rows) == 1000 - 1  # floor(1 x 1000 / 1020) = 0


async def test_pages_walk_the_groups_once(
    client: httpx.AsyncClient,
    staff: dict[str, str],
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
) -> None:
    customer = await seed_account(connection, email="ada@example.com")
    for day in range(5):
        await insert_order(
            connection,
            customer_id=customer,
            lines=[Line(100 + day, variant_id=KETTLE)],
            paid_at=PAID + dt.timedelta(days=day),
        )
    await reporting.refresh_sales_view(database)
    seen: list[str] = []
    url: str | None = f"{REPORT}?from=2026-11-01&to=2026-11-30&group_by=day&limit=2"
    while url is not None:
        page = (await client.get(url, headers=staff)).json()
        seen += [row["day"] for row in page["items"]]
        url = page["next"]
    assert seen == [f"2026-11-{20 + day}" for day in range(5)]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "to=2026-11-30",
        "from=2026-11-30&to=2026-11-01",
        "from=2025-01-01&to=2026-11-30",
        "from=2026-13-01&to=2026-12-01",
        "from=2026-11-01&to=2026-11-30&group_by=customer",
        "from=2026-11-01&to=2026-11-30&group_by=day,day",
        "from=2026-11-01&to=2026-11-30&group_by=day%00",
        "from=2026-11-01&to=2026-11-30&currency=eur",
        "from=2026-11-01&to=2026-11-30&limit=100000",
        "from=2026-11-01&to=2026-11-30&cursor=eyJzIjoiY3VycmVuY3kiLCJ2IjpbIlx1MDAwMCJdfQ",
        "from=2026-11-01&to=2026-11-30&cursor=bm90LWEtY3Vyc29y",
        "from=2026-11-01&to=2026-11-30&sort=day",
    ],
)
async def test_bad_report_parameters_are_a_422_problem(
    client: httpx.AsyncClient, staff: dict[str, str], query: str
) -> None:
    response = await client.get(f"{REPORT}?{query}", headers=staff)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 422


# --- concurrency: a refresh never blocks a read ------------------------------------------


@pytest.fixture
async def live_staff(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    async with client_over_real_engine(settings) as client:
        database = Database.from_settings(settings.database)
        try:
            async with database.session() as session, session.begin():
                connection = await session.connection()
                await seed_account(connection, email="clerk@shop.example", roles=("staff",))
        finally:
            await database.dispose()
        yield client, await bearer(client, "clerk@shop.example")


async def _holding(url: str, statement: str) -> asyncpg.Connection:
    """A connection that ran `statement` in a transaction it keeps open (with its locks)."""
    holder = await asyncpg.connect(url)
    await holder.execute("BEGIN")
    await holder.execute(statement)
    return holder


async def test_reads_are_never_blocked_while_a_concurrent_refresh_holds_its_lock(
    settings: Settings, live_staff: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    client, headers = live_staff
    assert settings.database.url is not None
    url = plain_url(settings.database.url.get_secret_value())
    query = f"{REPORT}?from=2026-11-01&to=2026-11-30"

    refresher = await _holding(url, f"REFRESH MATERIALIZED VIEW CONCURRENTLY {reporting.VIEW}")
    try:
        mode = await refresher.fetchval(
            "SELECT mode FROM pg_locks WHERE relation = $1::regclass AND granted"
            " AND mode = 'ExclusiveLock' AND pid = pg_backend_pid()",
            reporting.VIEW,
        )
        assert mode == "ExclusiveLock"  # the refresh holds its lock while we read
        response = await asyncio.wait_for(client.get(query, headers=headers), timeout=1.5)
        assert response.status_code == 200
    finally:
        await refresher.execute("ROLLBACK")
        await refresher.close()

    # The control: a plain REFRESH (ACCESS EXCLUSIVE) does block the same read.
    blocker = await _holding(url, f"REFRESH MATERIALIZED VIEW {reporting.VIEW}")
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.get(query, headers=headers), timeout=1.0)
    finally:
        await blocker.execute("ROLLBACK")
        await blocker.close()


async def test_the_refresh_job_runs_on_request_and_every_five_minutes(
    settings: Settings, live_staff: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    client, headers = live_staff
    assert settings.database.url is not None
    database = Database.from_settings(settings.database)
    try:
        async with database.session() as session, session.begin():
            connection = await session.connection()
            asked_at = await connection.scalar(text("SELECT now()"))
            await connection.execute(text("DELETE FROM procrastinate_jobs"))
            customer = await seed_account(connection, email="ada@example.com")
            order = await insert_order(
                connection, customer_id=customer, lines=[Line(4200)], paid_at=PAID
            )
        assert (await client.post(f"{REPORT}/refresh", headers=headers)).status_code == 202
        app = create_job_app(settings.database.url.get_secret_value(), job_blueprints(MODULES))
        dependencies = JobDependencies(
            settings=settings, database=database, mailer=mailer_for(settings, database)
        )
        async with app.open_async():
            periodic = {
                task.task.name: task.cron for task in app.periodic_registry.periodic_tasks.values()
            }
            assert periodic["orders:refresh_sales_report_periodically"] == "*/5 * * * *"
            await app.run_worker_async(
                queues=["maintenance"],
                wait=False,
                install_signal_handlers=False,
                additional_context={"dependencies": dependencies},
            )
        rows = (await client.get(f"{REPORT}?from=2026-11-20&to=2026-11-20", headers=headers)).json()
        assert [(row["units"], row["gross_minor"]) for row in rows["items"]] == [(1, 4200)]
        assert dt.datetime.fromisoformat(rows["refreshed_at"]) > asked_at
    finally:
        async with database.session() as session, session.begin():
            await session.execute(text("DELETE FROM orders_order WHERE id = :id"), {"id": order})
            await session.execute(text(f"REFRESH MATERIALIZED VIEW {reporting.VIEW}"))
        await database.dispose()
