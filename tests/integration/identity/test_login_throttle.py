"""Brute force: counted atomically, held back progressively, answered like a wrong password."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.platform.config import Settings
from mercato.platform.db.database import Database

PASSWORD = "correct horse battery staple"


async def login(client: httpx.AsyncClient, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": password}
    )


async def test_a_held_back_account_answers_exactly_like_a_wrong_password(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await client.post(
        "/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )
    wrong = [await login(client, f"guess number {n}") for n in range(4)]
    assert {response.status_code for response in wrong} == {401}
    held = await login(client, PASSWORD)  # the right password, while held back
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
    account = (
        await connection.execute(
            text(
                "SELECT failures FROM identity_login_throttle WHERE key = 'account:ada@example.com'"
            )
        )
    ).scalar_one()
    assert account == 0


async def test_delays_grow_and_stop_at_fifteen_minutes(connection: AsyncConnection) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    from mercato.identity.throttle import ThrottleKey, record_failure

    session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint")
    key = (ThrottleKey("account:delay@example.com", free_failures=2),)
    delays = []
    for _ in range(16):
        await record_failure(session, key)
        delays.append(
            await session.scalar(
                text(
                    "SELECT coalesce(extract(epoch FROM locked_until - now()), 0)"
                    " FROM identity_login_throttle WHERE key = 'account:delay@example.com'"
                )
            )
        )
    await session.close()
    assert delays[0] == delays[1] == 0
    assert 0 < delays[2] < delays[3] < delays[4]
    assert max(delays) <= 15 * 60 + 1
    assert delays[-1] >= 15 * 60 - 1


async def test_fifty_parallel_wrong_passwords_are_all_counted(
    unlimited_live_client: httpx.AsyncClient, settings: Settings
) -> None:
    client = unlimited_live_client
    await client.post(
        "/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )
    answers = await asyncio.gather(*(login(client, f"parallel guess {n}") for n in range(50)))
    assert {answer.status_code for answer in answers} == {401}
    database = Database.from_settings(settings.database)
    try:
        async with database.session() as session:
            failures = await session.scalar(
                text(
                    "SELECT failures FROM identity_login_throttle"
                    " WHERE key = 'account:ada@example.com'"
                )
            )
    finally:
        await database.dispose()
    assert failures == 50
