"""The owner's profile (phone encrypted at rest), account deletion, key rotation."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.identity.keys import rotate_keys
from mercato.identity.services import IdentityServices, field_keys_file
from mercato.identity.tasks import reencrypt_phones
from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.security.fields import FieldKeyRing
from tests.support.identity import PASSWORD, bearer, seed_account

ME = "/api/v1/users/me"


async def test_the_phone_is_stored_encrypted_and_read_back_by_its_owner(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    user_id = await seed_account(connection, email="ada@shop.example", name="Ada")
    ada = await bearer(client, "ada@shop.example")
    read = await client.get(ME, headers=ada)
    assert read.json()["phone"] is None

    changed = await client.patch(
        ME,
        json={"phone": "+44 (20) 7946-0958", "name": "Ada L."},
        headers={**ada, "If-Match": read.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone"] == "+442079460958"
    assert changed.json()["name"] == "Ada L."
    assert changed.json()["version"] == read.json()["version"] + 1
    stored = await connection.scalar(
        text("SELECT phone_encrypted::text FROM identity_user WHERE id = :id"), {"id": user_id}
    )
    assert stored is not None
    assert "2079460958" not in stored
    assert '"kid"' in stored
    assert (await client.get(ME, headers=ada)).json()["phone"] == "+442079460958"

    cleared = await client.patch(
        ME, json={"phone": None, "version": changed.json()["version"]}, headers=ada
    )
    assert cleared.json()["phone"] is None
    assert cleared.json()["name"] == "Ada L."  # not sent: unchanged


async def test_profile_updates_are_validated_and_versioned(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email="ada@shop.example")
    ada = await bearer(client, "ada@shop.example")
    for body in (
        {"phone": "0207 946 0958", "version": 1},  # no country code
        {"phone": "+12", "version": 1},
        {"phone": "+\uff14\uff14" + "2079460958", "version": 1},  # fullwidth digits
        {"email": "new@shop.example", "version": 1},
        {"roles": ["admin"], "version": 1},
        {"email_verified": True, "version": 1},
    ):
        response = await client.patch(ME, json=body, headers=ada)
        assert response.status_code == 422, body
    assert (await client.patch(ME, json={"name": "A"}, headers=ada)).status_code == 428
    assert (
        await client.patch(ME, json={"name": "A", "version": 7}, headers=ada)
    ).status_code == 409


async def test_a_phone_copied_to_another_row_or_without_its_key_fails_closed(
    app: FastAPI, client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email="ada@shop.example")
    bob_id = await seed_account(connection, email="bob@shop.example")
    ada = await bearer(client, "ada@shop.example")
    bob = await bearer(client, "bob@shop.example")
    await client.patch(ME, json={"phone": "+442079460958", "version": 1}, headers=ada)

    await connection.execute(
        text(
            "UPDATE identity_user SET phone_encrypted ="
            " (SELECT phone_encrypted FROM identity_user WHERE email = 'ada@shop.example')"
            " WHERE id = :id"
        ),
        {"id": bob_id},
    )
    moved = await client.get(ME, headers=bob)
    assert moved.status_code == 503
    assert "2079460958" not in moved.text

    identity = app.state.runtime.services(IdentityServices)
    keys = identity.field_keys
    identity.field_keys = FieldKeyRing.generate()  # a process started without the key
    try:
        missing = await client.get(ME, headers=ada)
    finally:
        identity.field_keys = keys
    assert missing.status_code == 503
    assert (await client.get(ME, headers=ada)).json()["phone"] == "+442079460958"


async def test_rotation_reencrypts_every_phone_under_the_new_key(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    *,
    database: ConnectionBoundDatabase,
    settings: Settings,
    app: FastAPI,
    tmp_path: Path,
) -> None:
    for n in range(3):
        await seed_account(connection, email=f"user{n}@shop.example")
        headers = await bearer(client, f"user{n}@shop.example")
        await client.patch(ME, json={"phone": f"+4420794609{n:02}", "version": 1}, headers=headers)
    identity = app.state.runtime.services(IdentityServices)
    old_kid = identity.field_keys.current
    # Rotated in a copy of the key files: the session's own stay as every other test expects.
    private = settings.model_copy(update={"data_dir": tmp_path})
    shutil.copytree(Path(settings.data_dir) / "keys", tmp_path / "keys")

    rotated = await rotate_keys(
        settings=private, uow=UnitOfWork(database), signing=True, fields=True
    )
    ring = FieldKeyRing.load(field_keys_file(private))
    assert rotated["fields"] == ring.current != old_kid
    queued = await connection.scalar(
        text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'identity:reencrypt_fields'"
        )
    )
    assert queued == 1
    assert await reencrypt_phones(database, ring) == 3
    kids = (
        (
            await connection.execute(
                text(
                    "SELECT DISTINCT phone_encrypted->>'kid' FROM identity_user"
                    " WHERE phone_encrypted IS NOT NULL"
                )
            )
        )
        .scalars()
        .all()
    )
    assert kids == [ring.current]
    assert await reencrypt_phones(database, ring) == 0

    # A process with the new ring reads every value; with only the old key it fails closed.
    identity.field_keys = ring
    user0 = await bearer(client, "user0@shop.example")
    assert (await client.get(ME, headers=user0)).json()["phone"] == "+442079460900"
    audit = await connection.scalar(
        text("SELECT details FROM identity_audit_log WHERE action = 'key_rotation'")
    )
    assert audit == rotated


async def test_deleting_the_account_ends_sessions_and_frees_the_address(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    user_id = await seed_account(connection, email="ada@shop.example", name="Ada")
    login = await client.post(
        "/api/v1/auth/login", json={"email": "ada@shop.example", "password": PASSWORD}
    )
    ada = {"Authorization": f"Bearer {login.json()['access_token']}"}

    wrong = await client.request("DELETE", ME, json={"password": "not my password"}, headers=ada)
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["pointer"] == "/password"
    gone = await client.request("DELETE", ME, json={"password": PASSWORD}, headers=ada)
    assert gone.status_code == 204

    assert (await client.get(ME, headers=ada)).status_code == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    assert refresh.status_code == 401
    relogin = await client.post(
        "/api/v1/auth/login", json={"email": "ada@shop.example", "password": PASSWORD}
    )
    assert relogin.status_code == 401
    row = (
        await connection.execute(
            text("SELECT status, name, deleted_at FROM identity_user WHERE id = :id"),
            {"id": user_id},
        )
    ).one()
    assert row.status == "deleted"
    assert row.name is None
    assert row.deleted_at is not None

    again = await client.post(
        "/api/v1/auth/register", json={"email": "ada@shop.example", "password": PASSWORD}
    )
    assert again.status_code == 202
    accounts = await connection.scalar(
        text("SELECT count(*) FROM identity_user WHERE email = 'ada@shop.example'")
    )
    assert accounts == 2


async def test_the_last_administrator_cannot_delete_their_account(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await seed_account(connection, email="root@corp.example", roles=("admin",))
    root = await bearer(client, "root@corp.example")
    response = await client.request("DELETE", ME, json={"password": PASSWORD}, headers=root)
    assert response.status_code == 409
    assert (await client.get(ME, headers=root)).status_code == 200
