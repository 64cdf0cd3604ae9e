"""Registration, verification, login, refresh, logout over the HTTP API (real PostgreSQL)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.mail import Mail
from tests.support.queued_mail import queued_mails

PASSWORD = "correct horse battery staple"


async def rows(connection: AsyncConnection, sql: str, **params: Any) -> list[Any]:
    return list((await connection.execute(text(sql), params)).all())


async def mails_to(
    database: ConnectionBoundDatabase, settings: Settings, address: str
) -> list[Mail]:
    return await queued_mails(database, settings, to=address)


def link_token(mail: Mail) -> str:
    match = re.search(r"token=([A-Za-z0-9_\-%]+)", mail.text)
    assert match is not None
    return match.group(1)


async def register(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/api/v1/auth/register", json={"email": email, "password": password})


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_registration_stores_a_normalised_user_and_mails_a_link(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    settings: Settings,
) -> None:
    response = await register(client, "  Ada@Example.COM ")
    assert response.status_code == 202
    (user,) = await rows(
        connection, "SELECT id, email, password_hash, email_verified_at FROM identity_user"
    )
    assert user.email == "ada@example.com"
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert user.email_verified_at is None
    roles = await rows(
        connection, "SELECT role FROM identity_user_role WHERE user_id = :u", u=user.id
    )
    assert [role.role for role in roles] == ["customer"]
    (mail,) = await mails_to(database, settings, "ada@example.com")
    assert mail.subject == "Confirm your email address"
    assert mail.text.count("http://127.0.0.1:8000/verify-email?token=") == 1
    events = await rows(
        connection, "SELECT name FROM platform_outbox WHERE aggregate_id = :u", u=str(user.id)
    )
    assert [event.name for event in events] == ["identity.user.registered"]
    audit = await rows(
        connection,
        "SELECT action, outcome FROM identity_audit_log WHERE target_user_id = :u",
        u=user.id,
    )
    assert [(entry.action, entry.outcome) for entry in audit] == [("register", "created")]


@pytest.mark.parametrize("variant", ["ada@example.com", "ADA@example.com", "\uff41da@example.com"])
async def test_registering_a_taken_address_looks_the_same_and_warns_the_owner(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    variant: str,
    database: ConnectionBoundDatabase,
    settings: Settings,
) -> None:
    first = await register(client, "ada@example.com")
    again = await register(client, variant, password="another long passphrase")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert len(await rows(connection, "SELECT id FROM identity_user")) == 1
    subjects = [mail.subject for mail in await mails_to(database, settings, "ada@example.com")]
    assert subjects == [
        "Confirm your email address",
        "Someone tried to register with your email address",
    ]


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("password123", "too_common"),
        ("Ab3$x", "too_short"),
        ("my-ada.lovelace-pass", "contains_email"),
    ],
)
async def test_weak_passwords_get_a_field_error(
    client: httpx.AsyncClient, connection: AsyncConnection, password: str, code: str
) -> None:
    response = await register(
        client,
        "ada.lovelace@example.com" if code == "contains_email" else "x@example.com",
        password,
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "/problems/weak-password"
    assert code in {error["code"] for error in body["errors"]}
    assert {error["pointer"] for error in body["errors"]} == {"/password"}
    assert password not in response.text
    assert await rows(connection, "SELECT id FROM identity_user") == []


@pytest.mark.parametrize("email", ["not-an-email", "a\u200bda@example.com", "ada@example"])
async def test_invalid_emails_are_a_422_on_the_email_field(
    client: httpx.AsyncClient, email: str
) -> None:
    response = await register(client, email)
    assert response.status_code == 422
    assert [error["pointer"] for error in response.json()["errors"]] == ["/email"]


@pytest.mark.parametrize("field", ["role", "is_superuser", "email_verified", "id", "roles"])
async def test_privileged_fields_cannot_be_mass_assigned(
    client: httpx.AsyncClient, connection: AsyncConnection, field: str
) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "eve@example.com", "password": PASSWORD, field: "admin"},
    )
    assert response.status_code == 422
    assert await rows(connection, "SELECT id FROM identity_user") == []


async def test_the_verification_link_works_once(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    settings: Settings,
) -> None:
    await register(client, "ada@example.com")
    (mail,) = await mails_to(database, settings, "ada@example.com")
    token = link_token(mail)
    first = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert first.status_code == 204
    (user,) = await rows(connection, "SELECT email_verified_at FROM identity_user")
    assert user.email_verified_at is not None
    again = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.json()["type"] == "/problems/invalid-token"
    forged = await client.post("/api/v1/auth/verify-email", json={"token": "x" * 43})
    assert forged.status_code == 400


async def test_login_failures_are_indistinguishable(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    wrong_password = await login(client, "ada@example.com", "not the password at all")
    unknown = await login(client, "nobody@example.com")
    malformed = await login(client, "not an email")
    for response in (wrong_password, unknown, malformed):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json() == {**wrong_password.json(), "instance": "/api/v1/auth/login"}


async def test_login_me_refresh_and_logout(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await register(client, "ada@example.com")
    tokens = (await login(client, "ADA@example.com")).json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 600
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert (me.json()["email"], me.json()["roles"], me.json()["email_verified"]) == (
        "ada@example.com",
        ["customer"],
        False,
    )
    assert "password" not in me.text

    rotated = await refresh(client, tokens["refresh_token"])
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != tokens["refresh_token"]
    new_access = rotated.json()["access_token"]

    logout = await client.post(
        "/api/v1/auth/logout", headers={"Authorization": f"Bearer {new_access}"}
    )
    assert logout.status_code == 204
    # Revocation is immediate: the access token still has minutes to live, and is refused.
    after = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {new_access}"})
    assert after.status_code == 401


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def test_a_token_two_generations_old_revokes_the_whole_family(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await register(client, "ada@example.com")
    first = (await login(client, "ada@example.com")).json()
    second = (await refresh(client, first["refresh_token"])).json()
    third = (await refresh(client, second["refresh_token"])).json()

    reuse = await refresh(client, first["refresh_token"])
    assert reuse.status_code == 401
    (session,) = await rows(connection, "SELECT revoked_at, revoke_reason FROM identity_session")
    assert session.revoked_at is not None
    assert session.revoke_reason == "refresh_token_reuse"
    # The newest token and its access token die with the family.
    assert (await refresh(client, third["refresh_token"])).status_code == 401
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {third['access_token']}"}
    )
    assert me.status_code == 401
    audit = await rows(
        connection, "SELECT action FROM identity_audit_log WHERE action = 'refresh_token_reuse'"
    )
    assert len(audit) == 1
    # The owner is told, by a mail job written in the same transaction as the revocation.
    mails = await rows(
        connection,
        "SELECT args->>'to' AS to, args->>'subject' AS subject FROM procrastinate_jobs"
        " WHERE task_name = 'platform:send_mail' AND args->>'subject' LIKE 'We signed you out%'",
    )
    assert [(mail.to, mail.subject) for mail in mails] == [
        ("ada@example.com", "We signed you out of a session to protect your account")
    ]


async def test_a_retry_within_the_grace_window_gets_the_same_successor(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await register(client, "ada@example.com")
    first = (await login(client, "ada@example.com")).json()
    rotated = (await refresh(client, first["refresh_token"])).json()
    retried = await refresh(client, first["refresh_token"])
    assert retried.status_code == 200
    assert retried.json()["refresh_token"] == rotated["refresh_token"]
    lineage = await rows(connection, "SELECT id FROM identity_refresh_token")
    assert len(lineage) == 2  # no second lineage
    (session,) = await rows(connection, "SELECT revoked_at FROM identity_session")
    assert session.revoked_at is None


async def test_a_retry_after_the_grace_window_is_reuse(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await register(client, "ada@example.com")
    first = (await login(client, "ada@example.com")).json()
    await refresh(client, first["refresh_token"])
    await connection.execute(
        text("UPDATE identity_refresh_token SET used_at = used_at - interval '11 seconds'")
    )
    assert (await refresh(client, first["refresh_token"])).status_code == 401
    (session,) = await rows(connection, "SELECT revoke_reason FROM identity_session")
    assert session.revoke_reason == "refresh_token_reuse"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic YWRhOnB3", "Bearer not-a-jwt", "Bearer a.b.c"]
)
async def test_me_needs_a_valid_bearer_token(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_jwks_publishes_the_current_and_next_keys(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 2
    assert all(key["kty"] == "OKP" and key["alg"] == "EdDSA" for key in keys)
    assert response.headers["cache-control"] == "public, max-age=300"


async def test_resend_verification_voids_the_older_link_and_never_tells(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
    settings: Settings,
) -> None:
    await register(client, "ada@example.com")
    known = await client.post("/api/v1/auth/resend-verification", json={"email": "ada@example.com"})
    unknown = await client.post("/api/v1/auth/resend-verification", json={"email": "x@example.com"})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    first, second = [
        link_token(mail) for mail in await mails_to(database, settings, "ada@example.com")
    ]
    assert (
        await client.post("/api/v1/auth/verify-email", json={"token": first})
    ).status_code == 400
    assert (
        await client.post("/api/v1/auth/verify-email", json={"token": second})
    ).status_code == 204


async def test_refresh_picks_up_role_changes_and_refuses_disabled_users(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await register(client, "ada@example.com")
    tokens = (await login(client, "ada@example.com")).json()
    await connection.execute(
        text(
            "INSERT INTO identity_user_role (user_id, role)"
            " SELECT id, 'staff' FROM identity_user WHERE email = 'ada@example.com'"
        )
    )
    rotated = (await refresh(client, tokens["refresh_token"])).json()
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}
    )
    assert me.json()["roles"] == ["customer", "staff"]

    await connection.execute(text("UPDATE identity_user SET status = 'disabled'"))
    assert (await refresh(client, rotated["refresh_token"])).status_code == 401
    assert (
        await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}
        )
    ).status_code == 401


async def test_an_idle_refresh_token_expires(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await register(client, "ada@example.com")
    tokens = (await login(client, "ada@example.com")).json()
    await connection.execute(
        text("UPDATE identity_refresh_token SET expires_at = now() - interval '1 second'")
    )
    assert (await refresh(client, tokens["refresh_token"])).status_code == 401


async def test_a_session_past_its_absolute_lifetime_ends(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await register(client, "ada@example.com")
    tokens = (await login(client, "ada@example.com")).json()
    await connection.execute(
        text("UPDATE identity_session SET absolute_expires_at = now() - interval '1 second'")
    )
    assert (await refresh(client, tokens["refresh_token"])).status_code == 401
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 401
