"""Drive every identity flow with known secrets, capture every log line, find none of them."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.platform.config import LogSettings
from mercato.platform.observability.logging import configure_logging

PASSWORD = "Sentinel-Passw0rd-7f3a9c"
WRONG = "Wrong-Sentinel-Passw0rd-b81e"
PHONE = "+447700900123"


async def test_passwords_and_tokens_never_reach_the_logs(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(level="DEBUG"), stream=stream)
    try:
        await client.post(
            "/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        )
        mail = (
            await connection.execute(
                text(
                    "SELECT args->>'text' FROM procrastinate_jobs"
                    " WHERE args->>'to' = 'ada@example.com' ORDER BY id DESC LIMIT 1"
                )
            )
        ).scalar_one()
        verify_token = re.search(r"token=([\w-]+)", mail).group(1)  # type: ignore[union-attr]
        await client.post("/api/v1/auth/verify-email", json={"token": verify_token})
        await client.post(
            "/api/v1/auth/login", json={"email": "ada@example.com", "password": WRONG}
        )
        tokens = (
            await client.post(
                "/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
            )
        ).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        await client.get("/api/v1/users/me", headers=bearer)
        rotated = (
            await client.post(
                "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
        ).json()
        await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": "bogus-" + tokens["refresh_token"]}
        )
        # Personal data and the refresh cookie.
        me = (await client.get("/api/v1/users/me", headers=bearer)).json()
        await client.patch(
            "/api/v1/users/me",
            json={"phone": PHONE, "version": me["version"]},
            headers=bearer,
        )
        await client.get("/api/v1/users/me", headers=bearer)
        browser = (
            await client.post(
                "/api/v1/auth/login",
                json={"email": "ada@example.com", "password": PASSWORD, "cookie": True},
            )
        ).json()
        await client.post(
            "/api/v1/auth/refresh",
            headers={"Cookie": f"__Host-mercato_refresh={browser['refresh_token']}"},
        )
        # A known device signing in, by body and by cookie.
        await client.post(
            "/api/v1/auth/login",
            json={
                "email": "ada@example.com",
                "password": PASSWORD,
                "device_token": tokens["device_token"],
            },
        )
        await client.post(
            "/api/v1/auth/login",
            json={"email": "ada@example.com", "password": WRONG},
            headers={"Cookie": f"__Host-mercato_device={browser['device_token']}"},
        )
        await client.request("DELETE", "/api/v1/users/me", json={"password": WRONG}, headers=bearer)
        await client.post("/api/v1/auth/logout", headers=bearer)
        # A validation error must not echo the password it refused either.
        await client.post(
            "/api/v1/auth/register",
            json={"email": "not-an-email", "password": PASSWORD, "role": "admin"},
        )
    finally:
        configure_logging(LogSettings())
    logs = stream.getvalue()
    assert "mercato.access" in logs  # the capture did see the requests
    for secret in (
        PASSWORD,
        WRONG,
        verify_token,
        tokens["access_token"],
        tokens["refresh_token"],
        rotated["refresh_token"],
        rotated["access_token"],
        browser["refresh_token"],
        tokens["device_token"],
        browser["device_token"],
        PHONE,
        PHONE.removeprefix("+"),
    ):
        assert secret not in logs


async def test_database_errors_do_not_carry_bound_values(connection: AsyncConnection) -> None:
    with pytest.raises(DBAPIError) as caught:
        await connection.execute(
            text("SELECT 1 / 0 WHERE CAST(:secret AS text) IS NOT NULL"),
            {"secret": "Sentinel-Secret-Value-42"},
        )
    assert "division by zero" in str(caught.value)
    assert "Sentinel-Secret-Value-42" not in str(caught.value)
