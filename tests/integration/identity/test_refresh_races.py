"""Twenty parallel refreshes of one token: one lineage, no revoked session."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text

from mercato.platform.config import Settings
from mercato.platform.db.database import Database

PASSWORD = "correct horse battery staple"


async def test_parallel_refreshes_of_one_token_make_exactly_one_lineage(
    live_client: httpx.AsyncClient, settings: Settings
) -> None:
    registered = await live_client.post(
        "/api/v1/auth/register", json={"email": "race@example.com", "password": PASSWORD}
    )
    assert registered.status_code == 202
    login = await live_client.post(
        "/api/v1/auth/login", json={"email": "race@example.com", "password": PASSWORD}
    )
    token = login.json()["refresh_token"]

    responses = await asyncio.gather(
        *(
            live_client.post("/api/v1/auth/refresh", json={"refresh_token": token})
            for _ in range(20)
        )
    )
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 409}, statuses
    successors = {
        response.json()["refresh_token"] for response in responses if response.status_code == 200
    }
    assert len(successors) == 1  # every winner got the same successor
    assert all(
        response.json()["type"] == "/problems/refresh-in-progress"
        for response in responses
        if response.status_code == 409
    )

    database = Database.from_settings(settings.database)
    try:
        async with database.session() as session:
            tokens = await session.scalar(text("SELECT count(*) FROM identity_refresh_token"))
            revoked = await session.scalar(
                text("SELECT count(*) FROM identity_session WHERE revoked_at IS NOT NULL")
            )
    finally:
        await database.dispose()
    assert tokens == 2  # the original and exactly one successor
    assert revoked == 0
