"""Identity's HTTP surface: `Allow` names every method of a path, look-alike email domains
are refused, and problem details never echo what was sent."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.identity import PASSWORD, bearer, seed_account

ME = "/api/v1/users/me"
# A marker no message of ours contains: if it comes back, the submitted value was echoed.
MARKER = "zqxjmarker"


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_a_wrong_method_on_users_me_lists_every_allowed_method(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, ME)
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"


@pytest.mark.parametrize(
    "domain",
    [
        "ex\u0430mple.com",  # a Cyrillic "a" among Latin letters
        "\u0430\u0440\u0440\u04cf\u0435.com",  # "apple" in Cyrillic look-alikes
        "xn--80ak6aa92e.com",  # the same in punycode
        "p\u0430ypal.co.uk",
    ],
)
async def test_look_alike_email_domains_are_refused_at_registration(
    client: httpx.AsyncClient, domain: str
) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": f"ada@{domain}", "password": PASSWORD}
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["pointer"] == "/email"
    assert domain not in response.text


async def test_international_domains_of_one_script_are_welcome(client: httpx.AsyncClient) -> None:
    for domain in ("b\u00fccher.de", "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"):
        response = await client.post(
            "/api/v1/auth/register", json={"email": f"ada@{domain}", "password": PASSWORD}
        )
        assert response.status_code == 202, response.text


async def test_an_invalid_email_is_refused_without_quoting_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": f"{MARKER}<>@example.com", "password": PASSWORD},
    )
    assert response.status_code == 422
    assert MARKER not in response.text
    assert "<>" not in response.text


async def test_problem_details_never_echo_submitted_values(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email="root@corp.example", roles=("admin",))
    root = await bearer(client, "root@corp.example")
    answers = [
        await client.get("/api/v1/admin/users", params={"sort": f"{MARKER}(5)"}, headers=root),
        await client.delete(f"/api/v1/auth/sessions/{MARKER}", headers=root),
        await client.get(f"/api/v1/admin/users/{MARKER}", headers=root),
        await client.patch(ME, json={"name": "Root", "version": 987_654_321}, headers=root),
        await client.post("/api/v1/auth/logout", json={"scope": MARKER}, headers=root),
    ]
    assert [answer.status_code for answer in answers] == [422, 422, 422, 409, 422]
    for answer in answers:
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        # `instance` is the path that was requested (never its query string).
        told = [problem["title"], problem["detail"], *map(str, problem.get("errors", []))]
        assert not any(MARKER in text or "987654321" in text for text in told), problem
