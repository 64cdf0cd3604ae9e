"""Forgot, reset and change password: single-use links, sessions ended, no enumeration."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.mail import Mail
from tests.support.queued_mail import queued_mails

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a completely new passphrase"


async def mails(database: ConnectionBoundDatabase, settings: Settings, to: str) -> list[Mail]:
    return await queued_mails(database, settings, to=to)


async def signed_in(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, str]:
    await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    tokens = (
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def reset_token(mail: Mail) -> str:
    match = re.search(r"reset-password\?token=([\w-]+)", mail.text)
    assert match is not None
    return match.group(1)


async def login_status(client: httpx.AsyncClient, password: str) -> int:
    response = await client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": password}
    )
    return response.status_code


async def test_forgot_answers_the_same_for_unknown_addresses(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    settings: Settings,
) -> None:
    await signed_in(client)
    known = await client.post("/api/v1/auth/password/forgot", json={"email": "ada@example.com"})
    unknown = await client.post("/api/v1/auth/password/forgot", json={"email": "no@example.com"})
    assert (
        (known.status_code, known.json())
        == (unknown.status_code, unknown.json())
        == (
            202,
            known.json(),
        )
    )
    assert [mail.subject for mail in await mails(database, settings, "no@example.com")] == []
    subjects = [mail.subject for mail in await mails(database, settings, "ada@example.com")]
    assert subjects[-1] == "Reset your password"


async def test_reset_sets_the_password_ends_every_session_and_works_once(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    settings: Settings,
) -> None:
    session = await signed_in(client)
    # The link is built from configuration, never from the Host header.
    await client.post(
        "/api/v1/auth/password/forgot",
        json={"email": "ada@example.com"},
        headers={"Host": "evil.example"},
    )
    mail = (await mails(database, settings, "ada@example.com"))[-1]
    assert "http://127.0.0.1:8000/reset-password?token=" in mail.text
    assert "evil.example" not in mail.text
    token = reset_token(mail)

    reset = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 204
    assert "access_token" not in reset.text  # no automatic sign-in
    assert (await client.get("/api/v1/users/me", headers=session)).status_code == 401
    assert await login_status(client, PASSWORD) == 401
    assert await login_status(client, NEW_PASSWORD) == 200
    again = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "yet another one!"}
    )
    assert again.status_code == 400
    assert (await mails(database, settings, "ada@example.com"))[-1].subject == (
        "Your password was changed"
    )


async def test_a_newer_reset_link_voids_the_older_one(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    settings: Settings,
) -> None:
    await signed_in(client)
    for _ in range(2):
        await client.post("/api/v1/auth/password/forgot", json={"email": "ada@example.com"})
    first, second = [
        reset_token(mail)
        for mail in await mails(database, settings, "ada@example.com")
        if mail.subject == "Reset your password"
    ]
    old = await client.post(
        "/api/v1/auth/password/reset", json={"token": first, "new_password": NEW_PASSWORD}
    )
    assert old.status_code == 400
    new = await client.post(
        "/api/v1/auth/password/reset", json={"token": second, "new_password": NEW_PASSWORD}
    )
    assert new.status_code == 204


async def test_change_needs_the_current_password_and_ends_other_sessions(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    settings: Settings,
) -> None:
    laptop = await signed_in(client)
    phone = await signed_in(client)
    wrong = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
        headers=laptop,
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["pointer"] == "/current_password"
    weak = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "password1"},
        headers=laptop,
    )
    assert weak.status_code == 422
    assert weak.json()["errors"][0]["pointer"] == "/new_password"

    changed = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=laptop,
    )
    assert changed.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=laptop)).status_code == 200
    assert (await client.get("/api/v1/users/me", headers=phone)).status_code == 401
    assert await login_status(client, NEW_PASSWORD) == 200
    assert (await mails(database, settings, "ada@example.com"))[-1].subject == (
        "Your password was changed"
    )
