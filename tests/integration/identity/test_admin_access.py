"""Permission-checked routes: customers are refused, staff and admins let in."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.identity.registration import create_admin
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.security.hashing import PasswordHasher

PASSWORD = "correct horse battery staple"


async def bearer(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_customers_get_403_staff_and_admins_get_the_user(
    client: httpx.AsyncClient, connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    for email in ("customer@example.com", "staff@example.com"):
        await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    await connection.execute(
        text(
            "INSERT INTO identity_user_role (user_id, role)"
            " SELECT id, 'staff' FROM identity_user WHERE email = 'staff@example.com'"
        )
    )
    hasher = PasswordHasher(workers=1)
    try:
        admin_id = await create_admin(
            email="root@example.com", password=PASSWORD, uow=UnitOfWork(database), hasher=hasher
        )
    finally:
        hasher.close()
    path = f"/api/v1/admin/users/{admin_id}"

    refused = await client.get(path, headers=await bearer(client, "customer@example.com"))
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/permission-denied"
    denied = (
        await connection.execute(
            text("SELECT details FROM identity_audit_log WHERE action = 'authorization_denied'")
        )
    ).scalar_one()
    assert denied == {
        "permission": "users:read",
        "method": "GET",
        "route": "/api/v1/admin/users/{user_id}",
    }
    staff = await client.get(path, headers=await bearer(client, "staff@example.com"))
    assert staff.status_code == 200
    assert staff.json()["roles"] == ["admin"]
    assert staff.json()["email_verified"] is True
    admin = await bearer(client, "root@example.com")
    missing = await client.get(f"/api/v1/admin/users/{uuid.uuid4()}", headers=admin)
    assert missing.status_code == 404
    assert (await client.get(path)).status_code == 401
