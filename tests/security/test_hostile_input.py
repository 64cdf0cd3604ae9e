"""Hostile input never makes a 5xx: every route's parameters and body fields, from the
OpenAPI document, with NUL, lone surrogates, out-of-range and non-finite numbers, deep
nesting, Unicode digits and forged cursors; anonymously and with an administrator's token.

The application runs on a real engine (its commits are real, one transaction per request
as in production): a value that slipped through to PostgreSQL would fail there, not in a
test transaction.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mercato.app import create_app
from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from tests.conftest import IN_CI
from tests.integration.catalog.conftest import empty_catalog_tables
from tests.integration.identity.conftest import empty_identity_tables
from tests.security.hostile import (
    CURSOR_VALUES,
    Fixtures,
    Request,
    deep_cursor,
    forged_cursor,
    random_id,
    requests_for,
)
from tests.support.identity import bearer, seed_account

ADMIN = "hostile-admin@example.com"
CUSTOMER = "hostile-customer@example.com"
PASSWORD_FOR_NEW = "a long enough passphrase 42"
# The sorts of each list, as their cursors name them (`Sort.canonical`).
LIST_SORTS: dict[str, list[tuple[str, str]]] = {
    "/api/v1/products": [
        ("", "-created_at,-id"),
        ("sort=price", "price,id"),
        ("sort=-name", "-name,-id"),
        ("q=kettle", "-relevance,-id"),
    ],
    "/api/v1/admin/users": [("", "-created_at,-id"), ("sort=email", "email,id")],
    "/api/v1/admin/audit": [("", "-id")],
}
VALID_SORT_VALUES = {
    "created_at": "2026-01-01T00:00:00+00:00",
    "id": "00000000-0000-7000-8000-000000000000",
    "price": 100,
    "name": "Kettle",
    "email": "a@example.com",
    "relevance": 0.5,
}


@dataclass
class Hostile:
    client: httpx.AsyncClient
    admin: dict[str, str]
    fixtures: Fixtures
    document: dict[str, Any]


@pytest.fixture(scope="module")
def module_redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if url is None:
        if IN_CI:
            pytest.fail("CI=true but REDIS_URL is not set")
        pytest.skip("REDIS_URL is not set: this test needs Redis")
    return url


@pytest.fixture(scope="module")
async def hostile(settings: Settings, module_redis_url: str) -> AsyncIterator[Hostile]:
    """An application on a real engine and the shared Redis (caches, fast path), rate
    limits off (thousands of requests from one address), seeded through the API; one for
    the module (the walk tolerates whatever state the other tests leave)."""
    redis_url = module_redis_url
    http = settings.http.model_copy(update={"rate_limits_enabled": False})
    configured = settings.model_copy(update={"http": http, "redis_url": redis_url})
    await empty_identity_tables(settings)
    await empty_catalog_tables(settings)
    database = Database.from_settings(settings.database)
    async with database.primary.begin() as connection:
        await seed_account(connection, email=ADMIN, roles=("admin",))
        customer_id = await seed_account(connection, email=CUSTOMER)
    await database.dispose()
    app = create_app(configured)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50002))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                admin = await bearer(client, ADMIN)
                category = await _created(
                    client,
                    admin,
                    "/api/v1/admin/categories",
                    {"slug": "hostile-root", "name": "Root"},
                )
                product = await _created(
                    client,
                    admin,
                    "/api/v1/admin/products",
                    {
                        "slug": "hostile-kettle",
                        "name": "Hostile kettle",
                        "category": "hostile-root",
                        "status": "active",
                        "attributes": {"colour": "copper"},
                        "tags": ["copper"],
                        "options": [{"name": "Size", "values": ["M", "L"]}],
                        "variants": [
                            {
                                "sku": "HOSTILE-1",
                                "options": {"Size": "M"},
                                "prices": [{"currency": "EUR", "amount_minor": 1999}],
                                "on_hand": 3,
                            }
                        ],
                        "images": [{"url": "https://media.example.com/kettle.jpg"}],
                    },
                )
                fixtures = Fixtures(
                    path={
                        "id_or_slug": product["slug"],
                        "slug": category["slug"],
                        "product_id": product["id"],
                        "variant_id": product["variants"][0]["id"],
                        "option_id": product["options"][0]["id"],
                        "image_id": product["images"][0]["id"],
                        "currency": "EUR",
                        "sku": "HOSTILE-1",
                        "category_id": category["id"],
                        "user_id": str(customer_id),
                        "session_id": random_id(),
                    },
                    bodies=_bodies(),
                    cursors={path: _cursors(sorts) for path, sorts in LIST_SORTS.items()},
                )
                document = (await client.get("/openapi.json")).json()
                yield Hostile(client, admin, fixtures, document)
    finally:
        await empty_catalog_tables(settings)
        await empty_identity_tables(settings)


async def _created(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _bodies() -> dict[str, dict[str, Any]]:
    """A valid body per request schema: the hostile value is then the only fault."""
    return {
        "RegisterIn": {
            "email": "hostile-new@example.com",
            "password": PASSWORD_FOR_NEW,
            "name": "N",
        },
        "VerifyEmailIn": {"token": "t" * 43},
        "LoginIn": {"email": "nobody@example.com", "password": "not the password"},
        "RefreshIn": {"refresh_token": "r" * 43},
        "LogoutIn": {"scope": "local"},
        "EmailIn": {"email": "nobody@example.com"},
        "ResetPasswordIn": {"token": "t" * 43, "new_password": PASSWORD_FOR_NEW},
        "ChangePasswordIn": {
            "current_password": "not the password",
            "new_password": PASSWORD_FOR_NEW,
        },
        "ProfilePatchIn": {"name": "Hostile admin"},
        "DeleteAccountIn": {"password": "not the password"},
        "AdminUserPatchIn": {"status": "active"},
        "ProductIn": {
            "sku": "HOSTILE-2",
            "slug": "hostile-mug",
            "name": "Mug",
            "price_minor": 500,
            "currency": "EUR",
            "attributes": {"size": "l"},
        },
        "ProductPatchIn": {"name": "Hostile kettle"},
        "VariantIn": {
            "sku": "HOSTILE-L",
            "options": {"Size": "L"},
            "prices": [{"currency": "EUR", "amount_minor": 100}],
        },
        "VariantPatchIn": {"barcode": "123", "version": 1},
        "PricePutIn": {"amount_minor": 1999, "version": 1},
        "OptionCreateIn": {"name": "Lid", "values": ["Steel"], "version": 1},
        "OptionPatchIn": {"name": "Size", "version": 1},
        "ImageCreateIn": {"url": "https://media.example.com/side.jpg", "alt": "Side"},
        "ImagePatchIn": {"alt": "Front", "version": 1},
        "InventorySetIn": {"on_hand": 3},
        "InventoryAdjustIn": {"delta": 1},
        "CategoryIn": {"slug": "hostile-leaf", "name": "Leaf", "parent": "hostile-root"},
        "CategoryPatchIn": {"name": "Root"},
    }


def _cursors(sorts: list[tuple[str, str]]) -> list[str]:
    """Forged cursors for a list, one hostile value in one position each (URL-safe)."""
    forged = [deep_cursor()]
    for _, canonical in sorts:
        names = [key.lstrip("-") for key in canonical.split(",")]
        for position in range(len(names)):
            for value in CURSOR_VALUES:
                values = [VALID_SORT_VALUES[name] for name in names]
                values[position] = value
                forged.append(forged_cursor(canonical, values))
    return forged


def _problems(response: httpx.Response, request: Request) -> list[str]:
    if response.status_code >= 500:
        return [f"{request.what}: {response.status_code} {response.text[:200]}"]
    if response.status_code < 400:
        return []
    found = []
    if response.headers.get("content-type") != "application/problem+json":
        found.append(f"{request.what}: {response.status_code} without a problem body")
    if "\\u0000" in response.text or "\\ud800" in response.text or "\x00" in response.text:
        found.append(f"{request.what}: the error echoes the submitted value")
    return found


async def _send(
    client: httpx.AsyncClient, request: Request, auth: dict[str, str]
) -> httpx.Response:
    """`request`, with the caller's token instead of any Authorization it carries."""
    headers = list(request.headers)
    if auth:
        headers = [pair for pair in headers if pair[0] != b"authorization"]
        headers.extend((name.lower().encode(), value.encode()) for name, value in auth.items())
    return await client.request(
        request.method, request.url, content=request.content, headers=headers
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("as_admin", [False, True], ids=["anonymous", "admin"])
async def test_no_route_answers_hostile_input_with_a_server_error(
    hostile: Hostile, as_admin: bool
) -> None:
    auth = hostile.admin if as_admin else {}
    failures: list[str] = []
    sent = 0
    for path, operations in hostile.document["paths"].items():
        for method in operations:
            for request in requests_for(hostile.document, path, method, hostile.fixtures):
                if as_admin and request.authenticates:
                    continue  # the administrator's token would replace the hostile one
                response = await _send(hostile.client, request, auth)
                sent += 1
                failures.extend(_problems(response, request))
    assert sent > 2_000
    assert not failures, "\n".join(failures[:50]) + f"\n({len(failures)} in all)"
    # The administrator's session survived the walk: the admin half was really exercised.
    if as_admin:
        assert (await hostile.client.get("/api/v1/users/me", headers=auth)).status_code == 200


def _fits(path: str, name: str, value: Any) -> bool:
    """Whether `value` is one of the sort field's type (the cursor is then merely odd)."""
    if name in ("name", "email"):
        return isinstance(value, str) and "\x00" not in value and "\ud800" not in value
    if name == "price" or (path.endswith("/audit") and name == "id"):
        return type(value) is int and -(2**63) <= value < 2**63
    if name == "relevance":
        return type(value) in (int, float) and math.isfinite(value) and abs(value) < 3.4e38
    return False  # created_at and id: none of the hostile values is a timestamp or a UUID


async def test_forged_cursors_are_a_422_unless_of_their_fields_type(hostile: Hostile) -> None:
    for path, sorts in LIST_SORTS.items():
        for query, canonical in sorts:
            names = [key.lstrip("-") for key in canonical.split(",")]
            for position, name in enumerate(names):
                for value in CURSOR_VALUES:
                    values = [VALID_SORT_VALUES[name] for name in names]
                    values[position] = value
                    cursor = forged_cursor(canonical, values)
                    separator = "&" if query else ""
                    response = await hostile.client.get(
                        f"{path}?{query}{separator}cursor={cursor}", headers=hostile.admin
                    )
                    expected = 200 if _fits(path, name, value) else 422
                    assert response.status_code == expected, (path, query, name, value)
                    if expected == 422:
                        assert response.json()["errors"][0]["pointer"] == "/cursor"


async def _priced(hostile: Hostile, price_minor: int) -> None:
    """The seeded product's variant at `price_minor` (the walk may have set another)."""
    path = hostile.fixtures.path
    response = await hostile.client.put(
        f"/api/v1/admin/products/{path['product_id']}/variants/{path['variant_id']}/prices/EUR",
        json={"amount_minor": price_minor},
        headers={**hostile.admin, "If-Match": "*"},
    )
    assert response.status_code == 200, response.text
    response = await hostile.client.patch(
        f"/api/v1/admin/products/{path['product_id']}",
        json={"status": "active"},
        headers={**hostile.admin, "If-Match": "*"},
    )
    assert response.status_code == 200, response.text


async def test_a_well_formed_cursor_still_pages(hostile: Hostile) -> None:
    await _priced(hostile, 1999)
    values = [VALID_SORT_VALUES["price"], VALID_SORT_VALUES["id"]]
    cursor = forged_cursor("price,id", values)
    response = await hostile.client.get(f"/api/v1/products?sort=price&cursor={cursor}")
    assert response.status_code == 200
    assert [item["slug"] for item in response.json()["items"]] == ["hostile-kettle"]


async def test_price_filters_take_the_whole_64_bit_column(hostile: Hostile) -> None:
    """Bound as a 32-bit integer, 2**31 failed against the 64-bit column (a 500)."""
    await _priced(hostile, 1999)
    for price in (2**31, 10**12):
        response = await hostile.client.get(
            "/api/v1/products", params={"currency": "EUR", "max_price": price}
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == 1
    above = await hostile.client.get(
        "/api/v1/products", params={"currency": "EUR", "min_price": 2**31}
    )
    assert above.status_code == 200
    assert above.json()["items"] == []


async def test_stock_cannot_be_adjusted_past_the_column(hostile: Hostile) -> None:
    """Each adjustment is within bounds; their sum would overflow the 32-bit column."""
    product_id, variant_id = (
        hostile.fixtures.path["product_id"],
        hostile.fixtures.path["variant_id"],
    )
    inventory = f"/api/v1/admin/products/{product_id}/variants/{variant_id}/stock"
    response = await hostile.client.put(inventory, json={"on_hand": 10**9}, headers=hostile.admin)
    assert response.status_code == 200
    for _ in range(3):
        adjusted = await hostile.client.post(
            f"{inventory}/adjust", json={"delta": 10**9}, headers=hostile.admin
        )
        assert adjusted.status_code == 409, adjusted.text
        assert adjusted.json()["type"] == "/problems/stock-limit-exceeded"
    current = await hostile.client.get(
        f"/api/v1/admin/products/{product_id}", headers=hostile.admin
    )
    variants = {v["id"]: v for v in current.json()["variants"]}
    assert variants[variant_id]["stock"]["on_hand"] == 10**9


@pytest.mark.parametrize("tag", ['"\xb2"', '"\xb9\xb2"', '"' + "9" * 40 + '"'])
async def test_if_match_with_unicode_or_overlong_digits_is_a_412(
    hostile: Hostile, tag: str
) -> None:
    response = await hostile.client.patch(
        f"/api/v1/admin/products/{hostile.fixtures.path['product_id']}",
        json={"name": "Renamed"},
        headers=[
            *((name.encode(), value.encode()) for name, value in hostile.admin.items()),
            (b"if-match", tag.encode("latin-1")),
        ],
    )
    assert response.status_code == 412, response.text


@pytest.mark.parametrize(
    "attributes",
    [
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": 1e999}',
        '{"a": ' + str(2**64) + "}",
        '{"a": ' + "[" * 40 + "]" * 40 + "}",
        r'{"a\u0000": 1}',
        r'{"a": "\ud800"}',
    ],
)
async def test_attributes_refuse_what_jsonb_cannot_hold(hostile: Hostile, attributes: str) -> None:
    body = json.dumps({"name": "Kettle"}).replace("}", f', "attributes": {attributes}}}')
    response = await hostile.client.patch(
        f"/api/v1/admin/products/{hostile.fixtures.path['product_id']}",
        content=body.encode(),
        headers={**hostile.admin, "If-Match": "*", "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"].startswith("/attributes")


async def test_attributes_keep_what_jsonb_can_hold(hostile: Hostile) -> None:
    attributes = {"depth": [[[{"ok": True}]]], "big": 2**63 - 1, "small": -(2**63), "ratio": 0.25}
    response = await hostile.client.patch(
        f"/api/v1/admin/products/{hostile.fixtures.path['product_id']}",
        json={"attributes": attributes},
        headers={**hostile.admin, "If-Match": "*"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["attributes"] == attributes


@pytest.mark.parametrize("depth", [900, 1_500, 2_000])
async def test_a_body_nested_beyond_any_schema_is_refused_whole(
    hostile: Hostile, depth: int
) -> None:
    """Parsed by the stdlib (a RecursionError past ~1,000 levels is its 400), or refused
    by the schema at the first level: never a 500, never a stack trace."""
    response = await hostile.client.post(
        "/api/v1/auth/login",
        content=b"[" * depth + b"]" * depth,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
