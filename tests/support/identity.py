"""Accounts for identity tests, written straight into the test's (rolled-back) connection."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence

import httpx
from argon2 import PasswordHasher as Argon2Hasher
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.identity.models import User, UserRole
from mercato.platform.ids import uuid7
from mercato.platform.security.hashing import Argon2Parameters

PASSWORD = "correct horse battery staple"


@functools.cache
def password_hash() -> str:
    """The hash of PASSWORD with the production parameters, computed once per run."""
    parameters = Argon2Parameters()
    return Argon2Hasher(
        time_cost=parameters.iterations,
        memory_cost=parameters.memory_kib,
        parallelism=parameters.lanes,
    ).hash(PASSWORD)


async def seed_account(
    connection: AsyncConnection,
    *,
    email: str,
    roles: Sequence[str] = ("customer",),
    name: str | None = None,
    status: str = "active",
    verified: bool = True,
    created_at: dt.datetime | None = None,
) -> uuid.UUID:
    """An account whose password is PASSWORD."""
    user_id = uuid7()
    await connection.execute(
        insert(User).values(
            id=user_id,
            email=email,
            name=name,
            status=status,
            password_hash=password_hash(),
            email_verified_at=dt.datetime.now(dt.UTC) if verified else None,
            created_at=created_at or dt.datetime.now(dt.UTC),
        )
    )
    for role in roles:
        await connection.execute(insert(UserRole).values(user_id=user_id, role=role))
    return user_id


async def bearer(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    """Sign in as `email` (password PASSWORD): the Authorization header to send."""
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
