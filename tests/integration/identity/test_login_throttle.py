"""Brute force: counted atomically, held back progressively, answered like a wrong password;
and never a button that locks the owner out (aimed lockout)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mercato.identity.tasks import sign_in_link_mail_for
from mercato.identity.throttle import ThrottleKey, claim, forget_quiet_keys
from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase, Database
from tests.support.apps import app_client
from tests.support.identity import PASSWORD, seed_account

ADA = "ada@example.com"
LOGIN = "/api/v1/auth/login"


async def login(
    client: httpx.AsyncClient,
    password: str,
    *,
    ip: str | None = None,
    device_token: str | None = None,
) -> httpx.Response:
    body: dict[str, str] = {"email": ADA, "password": password}
    if device_token is not None:
        body["device_token"] = device_token
    headers = {"X-Forwarded-For": ip} if ip is not None else {}
    return await client.post(LOGIN, json=body, headers=headers)


async def scalar(connection: AsyncConnection, statement: str, **values: object) -> object:
    return (await connection.execute(text(statement), values)).scalar()


async def account_failures(connection: AsyncConnection) -> int | None:
    statement = "SELECT failures FROM identity_login_throttle WHERE key = :key"
    failures = await scalar(connection, statement, key=f"account:{ADA}")
    assert failures is None or isinstance(failures, int)
    return failures


async def jobs(connection: AsyncConnection, task: str) -> list[dict[str, object]]:
    rows = await connection.execute(
        text("SELECT args FROM procrastinate_jobs WHERE task_name = :task ORDER BY id"),
        {"task": task},
    )
    return [row.args for row in rows]


async def attempt_notices(connection: AsyncConnection) -> list[dict[str, object]]:
    return [
        args
        for args in await jobs(connection, "platform:send_mail")
        if args["subject"] == "Someone is trying to sign in to your account"
    ]


@pytest.fixture
async def proxied(
    settings: Settings, database: ConnectionBoundDatabase
) -> AsyncIterator[httpx.AsyncClient]:
    """One API behind a trusted proxy: each request says which client IP it comes from."""
    http = settings.http.model_copy(
        update={"trusted_proxies": ("127.0.0.1/32",), "rate_limits_enabled": False}
    )
    async with app_client(settings.model_copy(update={"http": http}), database) as client:
        yield client


async def test_a_held_back_account_answers_exactly_like_a_wrong_password(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await client.post("/api/v1/auth/register", json={"email": ADA, "password": PASSWORD})
    wrong = [await login(client, f"guess number {n}") for n in range(4)]
    assert {response.status_code for response in wrong} == {401}
    held = await login(client, PASSWORD)  # the right password, from the failing client
    assert held.status_code == 401
    assert held.json() == wrong[0].json()
    assert held.headers["www-authenticate"] == wrong[0].headers["www-authenticate"]
    outcomes = (
        (
            await connection.execute(
                text("SELECT outcome FROM identity_audit_log WHERE action = 'login' ORDER BY id")
            )
        )
        .scalars()
        .all()
    )
    assert outcomes[-1] == "throttled"

    # Held back, never locked out: once the delay has passed, the right password works.
    await connection.execute(
        text("UPDATE identity_login_throttle SET locked_until = now() - interval '1 second'")
    )
    assert (await login(client, PASSWORD)).status_code == 200
    assert await account_failures(connection) == 0


async def test_delays_grow_and_stop_at_fifteen_minutes(connection: AsyncConnection) -> None:
    session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint")
    key = (ThrottleKey("account:delay@example.com", free_failures=2),)
    delays = []
    for _ in range(16):
        assert (await claim(session, key)).admitted
        delays.append(
            await session.scalar(
                text(
                    "SELECT coalesce(extract(epoch FROM locked_until - now()), 0)"
                    " FROM identity_login_throttle WHERE key = 'account:delay@example.com'"
                )
            )
        )
        if delays[-1] > 0:  # while held back: refused, and not counted
            assert not (await claim(session, key)).admitted
        await session.execute(  # the delay passes
            text("UPDATE identity_login_throttle SET locked_until = now() - interval '1 second'")
        )
    failures = await session.scalar(
        text("SELECT failures FROM identity_login_throttle WHERE key = 'account:delay@example.com'")
    )
    await session.close()
    assert failures == 16
    assert delays[0] == delays[1] == 0
    assert 0 < delays[2] < delays[3] < delays[4]
    assert max(delays) <= 15 * 60 + 1
    assert delays[-1] >= 15 * 60 - 1


async def test_fifty_parallel_wrong_passwords_are_each_counted_or_held_back(
    unlimited_live_client: httpx.AsyncClient, settings: Settings
) -> None:
    """Counted before judged: parallel guesses cannot outrun the counter (Keycloak #52646).
    Only the allowance (and what the short first delays let through) is ever judged."""
    client = unlimited_live_client
    await client.post("/api/v1/auth/register", json={"email": ADA, "password": PASSWORD})
    answers = await asyncio.gather(*(login(client, f"parallel guess {n}") for n in range(50)))
    assert {answer.status_code for answer in answers} == {401}
    database = Database.from_settings(settings.database)
    try:
        async with database.session() as session:
            failures = await session.scalar(
                text(
                    "SELECT failures FROM identity_login_throttle"
                    " WHERE key = 'account_ip:ada@example.com|127.0.0.1'"
                )
            )
            outcomes: dict[str, int] = dict(
                (
                    await session.execute(
                        text(
                            "SELECT outcome, count(*) FROM identity_audit_log"
                            " WHERE action = 'login' GROUP BY outcome"
                        )
                    )
                ).all()
            )
    finally:
        await database.dispose()
    assert outcomes.get("wrong_password", 0) + outcomes.get("throttled", 0) == 50
    assert outcomes["wrong_password"] == failures
    assert 4 <= failures <= 7  # 3 free, the 4th holds the pair back for 1 s, 2 s...


async def test_failures_from_many_ips_never_hold_back_the_owners_known_device(
    proxied: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email=ADA)
    owner = await login(proxied, PASSWORD, ip="198.51.100.7")
    assert owner.status_code == 200
    device = owner.json()["device_token"]
    for n in range(30):  # an attacker spread over thirty addresses
        assert (await login(proxied, f"guess {n}", ip=f"203.0.113.{n}")).status_code == 401
    assert (await account_failures(connection) or 0) >= 6  # the account is held back...
    # ...for clients that never signed in to it,
    assert (await login(proxied, PASSWORD, ip="192.0.2.44")).status_code == 401
    # but not for the owner's device, from wherever it connects.
    back = await login(proxied, PASSWORD, ip="192.0.2.45", device_token=device)
    assert back.status_code == 200, back.text
    assert back.json()["device_token"].split(".")[2] == device.split(".")[2]  # same device
    assert (await account_failures(connection) or 0) >= 6  # the attacker's count stands


async def test_held_back_attempts_are_not_counted_and_never_extend_the_hold(
    proxied: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email=ADA)
    for n in range(6):
        await login(proxied, f"guess {n}", ip=f"203.0.113.{n}")
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    await connection.execute(
        text("UPDATE identity_login_throttle SET locked_until = :until WHERE key = :key"),
        {"until": until, "key": f"account:{ADA}"},
    )
    before = await account_failures(connection)
    for n in range(10):  # one request every so often, and the owner's own attempts
        await login(proxied, f"late guess {n}", ip=f"203.0.113.{100 + n}")
        await login(proxied, PASSWORD, ip="192.0.2.44")
    assert await account_failures(connection) == before
    held_until = await scalar(
        connection,
        "SELECT locked_until FROM identity_login_throttle WHERE key = :key",
        key=f"account:{ADA}",
    )
    assert held_until == until


async def test_the_right_password_while_held_back_mails_the_owner_a_sign_in_link(
    settings: Settings,
    proxied: httpx.AsyncClient,
    connection: AsyncConnection,
    database: ConnectionBoundDatabase,
) -> None:
    user_id = await seed_account(connection, email=ADA)
    for n in range(8):
        await login(proxied, f"guess {n}", ip=f"203.0.113.{n}")
    wrong_while_held = await login(proxied, "yet another guess", ip="192.0.2.44")
    right_while_held = await login(proxied, PASSWORD, ip="192.0.2.44")
    assert right_while_held.status_code == wrong_while_held.status_code == 401
    assert right_while_held.json() == wrong_while_held.json()
    await login(proxied, PASSWORD, ip="192.0.2.44")  # once per quarter of an hour, not more
    assert await jobs(connection, "identity:send_sign_in_link") == [{"user_id": str(user_id)}]

    mail = await sign_in_link_mail_for(database, settings, user_id)  # what the job sends
    assert mail is not None
    assert mail.to == ADA
    match = re.search(r"/login\?device_token=([\w.%-]+)", mail.text)
    assert match is not None
    device = unquote(match.group(1))
    through = await login(proxied, PASSWORD, ip="192.0.2.44", device_token=device)
    assert through.status_code == 200, through.text
    # The link's token makes no one sign in without the password.
    assert (
        await login(proxied, "a guess", ip="192.0.2.44", device_token=device)
    ).status_code == 401


async def test_the_owner_hears_of_attempts_once_per_window(
    proxied: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email=ADA)
    for round_ in range(3):
        for n in range(10):
            await login(proxied, f"guess {round_}-{n}", ip=f"203.0.113.{n}")
        await connection.execute(  # the hold passes; the attacker carries on
            text(
                "UPDATE identity_login_throttle SET locked_until = now() WHERE key LIKE 'account:%'"
            )
        )
    notices = [
        args
        for args in await jobs(connection, "platform:send_mail")
        if args["subject"] == "Someone is trying to sign in to your account"
    ]
    assert len(notices) == 1
    assert notices[0]["to"] == ADA
    assert "guess" not in str(notices[0]["text"])


async def test_unknown_accounts_get_no_mail(
    proxied: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    for n in range(10):
        await login(proxied, f"guess {n}", ip=f"203.0.113.{n}")
    assert await attempt_notices(connection) == []


async def test_a_password_reset_lifts_the_hold(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email=ADA)
    for n in range(10):
        await login(client, f"guess {n}")
    assert (await login(client, PASSWORD)).status_code == 401
    await client.post("/api/v1/auth/password/forgot", json={"email": ADA})
    (reset_mail,) = [
        args
        for args in await jobs(connection, "platform:send_mail")
        if args["subject"] == "Reset your password"
    ]
    token = re.search(r"token=([\w-]+)", str(reset_mail["text"]))
    assert token is not None
    new_password = "a brand new passphrase"
    reset = await client.post(
        "/api/v1/auth/password/reset", json={"token": token.group(1), "new_password": new_password}
    )
    assert reset.status_code == 204
    assert await account_failures(connection) is None
    assert (await login(client, new_password)).status_code == 200


async def test_a_known_device_is_held_back_by_its_own_failures_only(
    proxied: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email=ADA)
    device = (await login(proxied, PASSWORD, ip="198.51.100.7")).json()["device_token"]
    for n in range(4):
        await login(proxied, f"typo {n}", ip=f"198.51.100.{10 + n}", device_token=device)
    assert (
        await login(proxied, PASSWORD, ip="198.51.100.20", device_token=device)
    ).status_code == 401
    assert (await account_failures(connection) or 0) == 0  # never counted on the account
    assert (await login(proxied, PASSWORD, ip="198.51.100.21")).status_code == 200  # others


async def test_a_successful_sign_in_does_not_count_against_its_ip(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email=ADA)
    for _ in range(3):
        assert (await login(client, PASSWORD)).status_code == 200
    ip_failures = await scalar(
        connection, "SELECT failures FROM identity_login_throttle WHERE key = 'ip:127.0.0.1'"
    )
    assert ip_failures == 0


async def test_keys_quiet_for_a_day_are_forgotten(
    connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    await connection.execute(
        text(
            "INSERT INTO identity_login_throttle (key, failures, locked_until, updated_at) VALUES"
            " ('ip:quiet', 60, now() - interval '1 day', now() - interval '2 days'),"
            " ('ip:held', 99, now() + interval '5 minutes', now() - interval '2 days'),"
            " ('ip:recent', 1, NULL, now() - interval '1 hour')"
        )
    )
    assert await forget_quiet_keys(database) >= 1
    remaining = await connection.execute(
        text("SELECT key FROM identity_login_throttle WHERE key LIKE 'ip:%' ORDER BY key")
    )
    assert remaining.scalars().all() == ["ip:held", "ip:recent"]
