"""Whether an address has an account must not show in how long register, forgot-password
and resend-verification take.

Forgot and resend do the same statements on both branches (the mail job decides): checked
exactly, by the statements each request sends, and by their medians in the slow suite.
(Register must create the account at once, so a new address costs the statements that
create it: see the closing note of issue 11 and docs/operations.md.)
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.platform.config import Settings
from tests.integration.identity.conftest import client_over_real_engine

PASSWORD = "correct horse battery staple"
KNOWN = "known@example.com"
_LITERALS = re.compile(r"'[^']*'|\$\d+|\b\d+\b|(?<=sa_savepoint_)\d+")


@contextmanager
def statements_of(connection: AsyncConnection) -> Iterator[list[str]]:
    """The SQL statements sent on `connection` meanwhile (their text, values left out)."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(_LITERALS.sub("?", args[2]))

    event.listen(connection.sync_connection, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", record)


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/password/forgot", "/api/v1/auth/resend-verification"]
)
async def test_known_and_unknown_addresses_cost_the_same_statements(
    client: httpx.AsyncClient, connection: AsyncConnection, path: str
) -> None:
    await client.post("/api/v1/auth/register", json={"email": KNOWN, "password": PASSWORD})
    with statements_of(connection) as known:
        assert (await client.post(path, json={"email": KNOWN})).status_code == 202
    with statements_of(connection) as unknown:
        assert (await client.post(path, json={"email": "nobody@example.com"})).status_code == 202
    assert known  # the listener saw the request's work
    assert known == unknown


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", ["/api/v1/auth/password/forgot", "/api/v1/auth/resend-verification"]
)
async def test_known_and_unknown_addresses_take_as_long(settings: Settings, path: str) -> None:
    """Medians within 1 ms, interleaved so that the machine's drift falls on both alike."""
    unlimited = settings.model_copy(
        update={"http": settings.http.model_copy(update={"rate_limits_enabled": False})}
    )
    known: list[float] = []
    unknown: list[float] = []
    async with client_over_real_engine(unlimited) as client:
        await client.post("/api/v1/auth/register", json={"email": KNOWN, "password": PASSWORD})
        for _ in range(200):
            for email, times in ((KNOWN, known), (f"{uuid.uuid4().hex}@example.com", unknown)):
                started = time.perf_counter()
                response = await client.post(path, json={"email": email})
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 202
    assert abs(statistics.median(known) - statistics.median(unknown)) < 1.0
