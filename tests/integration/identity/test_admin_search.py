"""Admin user search: substring match, filters, sort allow-list, keyset pages."""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.identity.search import USER_SORT_FIELDS, USER_TIEBREAKER, UserCriteria, user_search
from mercato.platform.listing import Sort, page_statement
from tests.support.identity import bearer, seed_account

SEARCH = "/api/v1/admin/users"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", None, "Barbara Liskov", "Edsger Dijkstra"]


@pytest.fixture
async def staff(client: httpx.AsyncClient, connection: AsyncConnection) -> dict[str, str]:
    await seed_account(connection, email="staff@corp.example", roles=("staff",), created_at=T0)
    return await bearer(client, "staff@corp.example")


async def seed_people(connection: AsyncConnection, count: int) -> list[uuid.UUID]:
    """`count` customers, some sharing a creation time (the id breaks those ties)."""
    ids = []
    for n in range(count):
        ids.append(
            await seed_account(
                connection,
                email=f"person{n:03}@shop.example",
                name=NAMES[n % len(NAMES)],
                created_at=T0 + dt.timedelta(minutes=1 + n // 3),
                verified=n % 2 == 0,
            )
        )
    return ids


async def walk(
    client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every item of every page, following `next` links (bounded)."""
    items: list[dict[str, Any]] = []
    response = await client.get(SEARCH, params=params, headers=headers)
    for _ in range(100):
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if page["next"] is None:
            assert "link" not in response.headers
            return items
        assert response.headers["link"] == f'<{page["next"]}>; rel="next"'
        response = await client.get(page["next"], headers=headers)
    raise AssertionError("the pages never ended")


def sort_value(name: str, item: dict[str, Any]) -> str:
    return str(item[name] or "")


@pytest.mark.parametrize(
    ("sort", "limit"),
    [
        ("-created_at", 4),
        ("created_at", 7),
        ("email", 5),
        ("-name,email", 3),
        ("name,-created_at", 10),
    ],
)
async def test_pages_concatenate_to_the_whole_ordered_result(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    staff: dict[str, str],
    sort: str,
    limit: int,
) -> None:
    await seed_people(connection, 23)
    items = await walk(client, staff, {"sort": sort, "limit": limit})
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)) == 24  # 23 people and the staff member
    # Ties (same time, same name) are broken by id, in the direction of the last key.
    tie_descending = sort.rsplit(",", maxsplit=1)[-1].startswith("-")
    ordered = sorted(items, key=lambda item: uuid.UUID(item["id"]), reverse=tie_descending)
    for field in reversed(sort.split(",")):  # stable sorts, least significant key first
        ordered.sort(key=functools.partial(sort_value, field.lstrip("-")), reverse=field[0] == "-")
    assert ids == [item["id"] for item in ordered]


async def test_q_matches_a_fragment_of_email_or_name_and_wildcards_are_literal(
    client: httpx.AsyncClient, connection: AsyncConnection, staff: dict[str, str]
) -> None:
    await seed_people(connection, 12)
    await seed_account(connection, email="100%real@shop.example", name="Percent")

    by_name = await walk(client, staff, {"q": "hopper"})
    assert {item["name"] for item in by_name} == {"Grace Hopper"}
    assert len(by_name) == 2
    by_email = await walk(client, staff, {"q": "son01"})
    assert sorted(item["email"] for item in by_email) == [
        "person010@shop.example",
        "person011@shop.example",
    ]
    literal = await walk(client, staff, {"q": "0%r"})
    assert [item["email"] for item in literal] == ["100%real@shop.example"]
    assert await walk(client, staff, {"q": "___"}) == []


async def test_filters_combine(
    client: httpx.AsyncClient, connection: AsyncConnection, staff: dict[str, str]
) -> None:
    await seed_people(connection, 12)
    await seed_account(connection, email="off@shop.example", status="disabled", created_at=T0)
    gone = await seed_account(connection, email="gone@shop.example")
    await connection.execute(
        text("UPDATE identity_user SET deleted_at = now(), status = 'deleted' WHERE id = :id"),
        {"id": gone},
    )

    staff_only = await walk(client, staff, {"role": "staff"})
    assert [item["email"] for item in staff_only] == ["staff@corp.example"]
    disabled = await walk(client, staff, {"status": "disabled"})
    assert [item["email"] for item in disabled] == ["off@shop.example"]
    deleted = await walk(client, staff, {"status": "deleted"})
    assert [item["email"] for item in deleted] == ["gone@shop.example"]
    everyone = await walk(client, staff, {})
    assert "gone@shop.example" not in {item["email"] for item in everyone}

    window = await walk(
        client,
        staff,
        {
            "verified": "false",
            "created_after": (T0 + dt.timedelta(minutes=2)).isoformat(),
            "created_before": (T0 + dt.timedelta(minutes=4)).isoformat(),
        },
    )
    # minutes 2 and 3 hold persons 3..8; the unverified ones are the odd numbers.
    assert sorted(item["email"] for item in window) == [
        "person003@shop.example",
        "person005@shop.example",
        "person007@shop.example",
    ]
    assert all(not item["email_verified"] for item in window)


async def test_no_row_is_repeated_or_lost_while_users_sign_up_between_pages(
    client: httpx.AsyncClient, connection: AsyncConnection, staff: dict[str, str]
) -> None:
    original = {str(user_id) for user_id in await seed_people(connection, 20)}
    seen: list[str] = []
    response = await client.get(SEARCH, params={"limit": 4, "sort": "-created_at"}, headers=staff)
    newcomers = 0
    while True:
        assert response.status_code == 200
        page = response.json()
        seen.extend(item["id"] for item in page["items"])
        if page["next"] is None:
            break
        # New accounts, newest and oldest alike, arrive between two page requests.
        for created_at in (T0 + dt.timedelta(days=1), T0 - dt.timedelta(days=1)):
            newcomers += 1
            await seed_account(
                connection, email=f"newcomer{newcomers}@shop.example", created_at=created_at
            )
        response = await client.get(page["next"], headers=staff)

    assert len(seen) == len(set(seen))
    assert original <= set(seen)


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "pg_sleep(1)"},
        {"sort": "created_at;DROP TABLE identity_user"},
        {"sort": "password_hash"},
        {"sort": "email,email"},
        {"limit": "101"},
        {"limit": "0"},
        {"q": "ab"},
        {"role": "admin' OR '1'='1"},
        {"status": "everything"},
        {"created_after": "2026-01-01T00:00:00"},  # no time zone
        {"is_superuser": "true"},
        {"cursor": "not-a-cursor"},
    ],
)
async def test_bad_parameters_get_422_at_once(
    client: httpx.AsyncClient, staff: dict[str, str], params: dict[str, str]
) -> None:
    started = time.monotonic()
    response = await client.get(SEARCH, params=params, headers=staff)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["in"] == "query"
    assert time.monotonic() - started < 0.9  # pg_sleep(1) never ran


async def test_a_cursor_of_another_sort_is_refused(
    client: httpx.AsyncClient, connection: AsyncConnection, staff: dict[str, str]
) -> None:
    await seed_people(connection, 5)
    first = (await client.get(SEARCH, params={"limit": 2, "sort": "email"}, headers=staff)).json()
    cursor = httpx.URL(first["next"]).params["cursor"]
    other = await client.get(SEARCH, params={"sort": "name", "cursor": cursor}, headers=staff)
    assert other.status_code == 422
    assert other.json()["errors"][0]["pointer"] == "/cursor"


async def test_customers_cannot_search(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email="buyer@shop.example")
    response = await client.get(SEARCH, headers=await bearer(client, "buyer@shop.example"))
    assert response.status_code == 403
    assert (await client.get(SEARCH)).status_code == 401


async def test_the_q_search_plan_uses_the_trigram_indexes(connection: AsyncConnection) -> None:
    # Setup, not the code under test: 30,000 rows and their trigram index entries may take
    # longer than the application's statement timeout on a slow CI machine.
    await connection.execute(text("SET LOCAL statement_timeout = '60s'"))
    await connection.execute(
        text(
            "INSERT INTO identity_user (id, email, name, password_hash, created_at)"
            " SELECT gen_random_uuid(), 'user' || n || '@bulk.example', 'Name ' || md5(n::text),"
            "  'x', now() - n * interval '1 second'"
            " FROM generate_series(1, 30000) AS n"
        )
    )
    # What autovacuum does in production: move the GIN pending lists into the indexes
    # (the planner prices a long pending list as a reason to scan the table instead).
    for index in ("ix_identity_user_email_trgm", "ix_identity_user_name_trgm"):
        await connection.execute(text("SELECT gin_clean_pending_list(:index)"), {"index": index})
    await connection.execute(text("ANALYZE identity_user"))
    sort = Sort.parse("-created_at", allowed=USER_SORT_FIELDS, tiebreaker=USER_TIEBREAKER)
    criteria = UserCriteria(q="4f2a9")
    statement = page_statement(user_search(criteria), sort=sort, cursor=None, limit=50).params(
        criteria.values
    )
    sql = statement.compile(
        dialect=PGDialect_asyncpg(),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
    plan = "\n".join((await connection.execute(text(f"EXPLAIN {sql}"))).scalars())
    assert "ix_identity_user_email_trgm" in plan, plan
    assert "ix_identity_user_name_trgm" in plan, plan
    assert "Seq Scan" not in plan, plan


async def test_a_found_account_reads_as_the_account_read_by_id(
    client: httpx.AsyncClient, connection: AsyncConnection, staff: dict[str, str]
) -> None:
    """The search encodes rows itself (no response model): each item must be the very
    document `GET /admin/users/{id}` gives, roles (sorted, or none) and times included."""
    many = await seed_account(
        connection,
        email="many.roles@shop.example",
        name="Zoë Ünïcode",
        roles=("staff", "customer", "admin"),
        created_at=dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC),
    )
    none = await seed_account(
        connection,
        email="no.roles@shop.example",
        roles=(),
        verified=False,
        created_at=dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC),
    )
    response = await client.get(SEARCH, params={"q": "roles@shop"}, headers=staff)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    items = {item["id"]: item for item in response.json()["items"]}
    assert set(items) == {str(many), str(none)}
    for user_id in (many, none):
        by_id = await client.get(f"/api/v1/admin/users/{user_id}", headers=staff)
        assert items[str(user_id)] == by_id.json()
    assert items[str(many)]["roles"] == ["admin", "customer", "staff"]
    assert items[str(many)]["created_at"] == "2026-03-01T12:00:00.123456Z"
    assert items[str(none)]["roles"] == []
    assert items[str(none)]["email_verified"] is False
