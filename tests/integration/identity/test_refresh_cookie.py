"""Refresh tokens for browsers: a `__Host-` HttpOnly, Secure, SameSite=Strict cookie."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.identity import PASSWORD, seed_account

COOKIE = "__Host-mercato_refresh"
DEVICE = "__Host-mercato_device"


def refresh_cookie(response: httpx.Response) -> tuple[str, set[str]]:
    """The cookie's value and its attributes (lower-cased), from Set-Cookie."""
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE)]
    pair, *attributes = (part.strip() for part in header.split(";"))
    return pair.split("=", 1)[1], {attribute.lower() for attribute in attributes}


async def test_the_refresh_token_can_live_in_a_host_only_cookie(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email="ada@shop.example")
    plain = await client.post(
        "/api/v1/auth/login", json={"email": "ada@shop.example", "password": PASSWORD}
    )
    assert "set-cookie" not in plain.headers

    login = await client.post(
        "/api/v1/auth/login",
        json={"email": "ada@shop.example", "password": PASSWORD, "cookie": True},
    )
    assert login.status_code == 200
    token, attributes = refresh_cookie(login)
    assert token == login.json()["refresh_token"]
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= attributes
    assert not any(attribute.startswith("domain") for attribute in attributes)
    (device,) = [h for h in login.headers.get_list("set-cookie") if h.startswith(DEVICE)]
    assert device.startswith(f"{DEVICE}={login.json()['device_token']};")
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= {
        part.strip().lower() for part in device.split(";")[1:]
    }

    # A browser sends the cookie and no body; the rotated token comes back as a cookie.
    rotated = await client.post("/api/v1/auth/refresh", headers={"Cookie": f"{COOKIE}={token}"})
    assert rotated.status_code == 200, rotated.text
    new_token, _ = refresh_cookie(rotated)
    assert new_token == rotated.json()["refresh_token"] != token

    nothing = await client.post("/api/v1/auth/refresh")
    assert nothing.status_code == 401

    logout = await client.post(
        "/api/v1/auth/logout",
        headers={"Authorization": f"Bearer {rotated.json()['access_token']}"},
    )
    assert logout.status_code == 204
    cleared, cleared_attributes = refresh_cookie(logout)
    assert cleared in {"", '""'}
    assert "max-age=0" in cleared_attributes
    again = await client.post("/api/v1/auth/refresh", headers={"Cookie": f"{COOKIE}={new_token}"})
    assert again.status_code == 401
