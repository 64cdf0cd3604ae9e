"""Revocation holds at once even when Redis fails: a logout or demotion whose cache
invalidation is lost to a hung Redis is not undone when Redis comes back (the session
check fails closed), and every such change is also an event whose consumer retries it."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.identity import consumers as identity_consumers
from mercato.identity.events import RightsChanged
from mercato.modules import MODULES
from mercato.platform.config import Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.runtime import open_runtime
from tests.support.apps import app_client
from tests.support.identity import bearer, seed_account
from tests.support.private_redis import private_redis

ME = "/api/v1/users/me"


async def revoke(
    how: str, api: httpx.AsyncClient, victim: dict[str, str], user_id: uuid.UUID
) -> None:
    if how == "logout":
        assert (await api.post("/api/v1/auth/logout", headers=victim)).status_code == 204
    else:  # an administrator demotes the user
        root = await bearer(api, "root@corp.example")
        demoted = await api.patch(
            f"/api/v1/admin/users/{user_id}", json={"roles": [], "version": 1}, headers=root
        )
        assert demoted.status_code == 200, demoted.text


@pytest.mark.parametrize("how", ["logout", "demotion"])
async def test_a_revocation_during_a_redis_hang_holds_during_it_and_at_once_after_it(
    settings: Settings, connection: AsyncConnection, database: ConnectionBoundDatabase, how: str
) -> None:
    await seed_account(connection, email="root@corp.example", roles=("admin",))
    ada_id = await seed_account(connection, email="ada@shop.example", roles=("staff",))
    with private_redis() as redis:
        shared = settings.model_copy(update={"redis_url": redis.url})
        async with app_client(shared, database) as api, app_client(shared, database) as other:
            ada = await bearer(api, "ada@shop.example")
            if how == "demotion":
                await bearer(api, "root@corp.example")  # signed in before the hang
            for process in (api, other, api, other):
                assert (await process.get(ME, headers=ada)).status_code == 200  # cached
            with redis.hung():
                await revoke(how, api, ada, ada_id)
                assert (await api.get(ME, headers=ada)).status_code == 401
                assert (await other.get(ME, headers=ada)).status_code == 401
            # Redis is back, still holding the entries cached before the revocation.
            for process in (api, other, api, other):
                assert (await process.get(ME, headers=ada)).status_code == 401


async def test_a_process_idle_during_the_hang_learns_of_the_lost_bump_within_a_probe(
    settings: Settings, connection: AsyncConnection, database: ConnectionBoundDatabase
) -> None:
    """A process that saw nothing fail reads the entries as they are; the process that lost
    the bump retires them all (the epoch) as soon as Redis answers its probe."""
    await seed_account(connection, email="ada@shop.example")
    with private_redis() as redis:
        shared = settings.model_copy(update={"redis_url": redis.url})
        async with app_client(shared, database) as api, app_client(shared, database) as idle:
            ada = await bearer(api, "ada@shop.example")
            assert (await idle.get(ME, headers=ada)).status_code == 200  # cached
            with redis.hung():
                assert (await api.post("/api/v1/auth/logout", headers=ada)).status_code == 204
            deadline = time.monotonic() + 10  # generous: the probe runs every 0.25 s
            while (await idle.get(ME, headers=ada)).status_code != 401:
                assert time.monotonic() < deadline, "the revoked token still works"
                await asyncio.sleep(0.05)
            assert (await api.get(ME, headers=ada)).status_code == 401


async def test_every_revoking_commit_carries_a_rights_changed_event(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    ada_id = await seed_account(connection, email="ada@shop.example")
    ada = await bearer(client, "ada@shop.example")
    assert (await client.post("/api/v1/auth/logout", headers=ada)).status_code == 204
    published = (
        await connection.execute(
            text(
                "SELECT envelope->'payload'->>'user_id' FROM platform_outbox"
                " WHERE name = :name ORDER BY log_position"
            ),
            {"name": RightsChanged.name},
        )
    ).scalars()
    assert list(published)[-1:] == [str(ada_id)]


async def test_the_sessions_consumer_bumps_the_generation_and_fails_while_redis_is_away(
    settings: Settings, database: ConnectionBoundDatabase
) -> None:
    with private_redis() as redis:
        shared = settings.model_copy(update={"redis_url": redis.url})
        async with open_runtime(shared, MODULES, database=database) as runtime:
            groups = {group.name: group for group in runtime.consumers().groups()}
            group = groups[identity_consumers.GROUP]
            _, handler = group.handlers[(RightsChanged.name, RightsChanged.version)]
            user_id = uuid.uuid4()
            key = f"identity:principal-generation:{user_id}"
            client = Redis.from_url(redis.url)
            try:
                await handler(RightsChanged(user_id=user_id), None)  # type: ignore[arg-type]
                assert int(await client.get(key) or 0) == 1
                with redis.hung(), pytest.raises(TimeoutError):  # raised: retried later
                    await handler(RightsChanged(user_id=user_id), None)  # type: ignore[arg-type]
            finally:
                await client.aclose()
