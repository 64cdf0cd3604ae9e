"""Administrators changing accounts (status, roles) and reading the audit log."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from tests.support.identity import PASSWORD, bearer, seed_account


def user_path(user_id: uuid.UUID) -> str:
    return f"/api/v1/admin/users/{user_id}"


async def test_disabling_an_account_ends_its_sessions_at_once(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    admin_id = await seed_account(connection, email="root@corp.example", roles=("admin",))
    buyer_id = await seed_account(connection, email="buyer@shop.example")
    admin = await bearer(client, "root@corp.example")
    login = await client.post(
        "/api/v1/auth/login", json={"email": "buyer@shop.example", "password": PASSWORD}
    )
    buyer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await client.get("/api/v1/users/me", headers=buyer)).status_code == 200

    read = await client.get(user_path(buyer_id), headers=admin)
    assert read.headers["etag"] == '"1"'
    changed = await client.patch(
        user_path(buyer_id),
        json={"status": "disabled"},
        headers={**admin, "If-Match": read.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "disabled"
    assert changed.json()["version"] == 2
    assert changed.headers["etag"] == '"2"'

    assert (await client.get("/api/v1/users/me", headers=buyer)).status_code == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    assert refresh.status_code == 401
    again = await client.post(
        "/api/v1/auth/login", json={"email": "buyer@shop.example", "password": PASSWORD}
    )
    assert again.status_code == 401
    audit = (
        await connection.execute(
            text(
                "SELECT actor_user_id, details FROM identity_audit_log"
                " WHERE action = 'admin_change_user' AND target_user_id = :id"
            ),
            {"id": buyer_id},
        )
    ).one()
    assert audit.actor_user_id == admin_id
    assert audit.details["status"] == ["active", "disabled"]
    event = await connection.scalar(
        text("SELECT envelope FROM platform_outbox WHERE name = 'identity.user.account_changed'")
    )
    assert event["payload"] == {
        "user_id": str(buyer_id),
        "status": "disabled",
        "roles": ["customer"],
    }


async def test_updates_need_the_current_version(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email="root@corp.example", roles=("admin",))
    buyer_id = await seed_account(connection, email="buyer@shop.example")
    admin = await bearer(client, "root@corp.example")
    path = user_path(buyer_id)

    missing = await client.patch(path, json={"roles": ["staff"]}, headers=admin)
    assert missing.status_code == 428
    first = await client.patch(path, json={"roles": ["staff"], "version": 1}, headers=admin)
    assert first.status_code == 200
    assert first.json()["roles"] == ["staff"]
    stale_body = await client.patch(path, json={"status": "disabled", "version": 1}, headers=admin)
    assert stale_body.status_code == 409
    assert stale_body.json()["type"] == "/problems/version-conflict"
    stale_header = await client.patch(
        path, json={"status": "disabled"}, headers={**admin, "If-Match": '"1"'}
    )
    assert stale_header.status_code == 412
    weak = await client.patch(
        path, json={"status": "disabled"}, headers={**admin, "If-Match": 'W/"2"'}
    )
    assert weak.status_code == 412
    still = await client.get(path, headers=admin)
    assert still.json()["status"] == "active"
    assert still.json()["version"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"roles": ["root"], "version": 1},
        {"email": "other@shop.example", "version": 1},
        {"email_verified": True, "version": 1},
        {"id": str(uuid.UUID(int=1)), "version": 1},
        {"status": "deleted", "version": 1},
        {"is_superuser": True, "version": 1},
    ],
)
async def test_only_status_and_known_roles_can_be_set(
    client: httpx.AsyncClient, connection: AsyncConnection, body: dict[str, object]
) -> None:
    await seed_account(connection, email="root@corp.example", roles=("admin",))
    buyer_id = await seed_account(connection, email="buyer@shop.example")
    response = await client.patch(
        user_path(buyer_id), json=body, headers=await bearer(client, "root@corp.example")
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_nobody_grants_or_touches_a_role_above_their_own(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    # A staff member trusted with accounts, but not an administrator.
    await connection.execute(
        text(
            "INSERT INTO identity_role_permission (role, permission)"
            " VALUES ('staff', 'users:write')"
        )
    )
    await seed_account(connection, email="lead@corp.example", roles=("staff",))
    admin_id = await seed_account(connection, email="root@corp.example", roles=("admin",))
    buyer_id = await seed_account(connection, email="buyer@shop.example")
    lead = await bearer(client, "lead@corp.example")

    escalate = await client.patch(
        user_path(buyer_id), json={"roles": ["admin"], "version": 1}, headers=lead
    )
    assert escalate.status_code == 403
    assert escalate.json()["type"] == "/problems/role-above-yours"
    depose = await client.patch(
        user_path(admin_id), json={"status": "disabled", "version": 1}, headers=lead
    )
    assert depose.status_code == 403
    promote = await client.patch(
        user_path(buyer_id), json={"roles": ["customer", "staff"], "version": 1}, headers=lead
    )
    assert promote.status_code == 200
    assert promote.json()["roles"] == ["customer", "staff"]


async def test_the_last_administrator_cannot_step_down(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    admin_id = await seed_account(connection, email="root@corp.example", roles=("admin",))
    admin = await bearer(client, "root@corp.example")
    demote = await client.patch(
        user_path(admin_id), json={"roles": ["staff"], "version": 1}, headers=admin
    )
    assert demote.status_code == 409
    assert demote.json()["type"] == "/problems/last-administrator"
    disable = await client.patch(
        user_path(admin_id), json={"status": "disabled", "version": 1}, headers=admin
    )
    assert disable.status_code == 409

    await seed_account(connection, email="second@corp.example", roles=("admin",))
    allowed = await client.patch(
        user_path(admin_id), json={"roles": ["staff"], "version": 1}, headers=admin
    )
    assert allowed.status_code == 200


async def test_two_administrators_demoting_each_other_at_once_leave_one(
    live_client: httpx.AsyncClient, settings: Settings
) -> None:
    database = Database.from_settings(settings.database)
    try:
        async with database.primary.begin() as connection:
            first = await seed_account(connection, email="one@corp.example", roles=("admin",))
            second = await seed_account(connection, email="two@corp.example", roles=("admin",))
    finally:
        await database.dispose()
    one = await bearer(live_client, "one@corp.example")
    two = await bearer(live_client, "two@corp.example")

    results = await asyncio.gather(
        live_client.patch(user_path(second), json={"roles": ["staff"], "version": 1}, headers=one),
        live_client.patch(user_path(first), json={"roles": ["staff"], "version": 1}, headers=two),
    )
    # The second to commit is either refused as the last admin, or already signed out by
    # the first one's change (its own admin session ended): never both demoted.
    statuses = sorted(response.status_code for response in results)
    assert statuses[0] == 200
    assert statuses[1] in {401, 409}
    database = Database.from_settings(settings.database)
    try:
        async with database.primary.connect() as connection:
            admins = await connection.scalar(
                text("SELECT count(*) FROM identity_user_role WHERE role = 'admin'")
            )
    finally:
        await database.dispose()
    assert admins == 1


async def test_the_audit_log_lists_security_events_newest_first(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    admin_id = await seed_account(connection, email="root@corp.example", roles=("admin",))
    await seed_account(connection, email="buyer@shop.example")
    for _ in range(3):
        await client.post(
            "/api/v1/auth/login", json={"email": "buyer@shop.example", "password": "wrong guess 1"}
        )
    admin = await bearer(client, "root@corp.example")

    failures = (
        await client.get(
            "/api/v1/admin/audit", params={"action": "login", "limit": 2}, headers=admin
        )
    ).json()
    assert [entry["outcome"] for entry in failures["items"]] == ["ok", "wrong_password"]
    assert failures["items"][0]["actor_user_id"] == str(admin_id)
    rest = (await client.get(failures["next"], headers=admin)).json()
    assert [entry["outcome"] for entry in rest["items"]] == ["wrong_password", "wrong_password"]
    assert rest["next"] is None
    ids = [entry["id"] for entry in failures["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True)

    mine = (
        await client.get("/api/v1/admin/audit", params={"actor": str(admin_id)}, headers=admin)
    ).json()
    assert {entry["action"] for entry in mine["items"]} == {"login"}
    unknown = await client.get("/api/v1/admin/audit", params={"sort": "ip"}, headers=admin)
    assert unknown.status_code == 422
    buyer_tokens = await client.post(
        "/api/v1/auth/login", json={"email": "buyer@shop.example", "password": PASSWORD}
    )
    refused = await client.get(
        "/api/v1/admin/audit",
        headers={"Authorization": f"Bearer {buyer_tokens.json()['access_token']}"},
    )
    assert refused.status_code == 403
