"""Unknown and known accounts cost the same time to refuse (one Argon2 verification each)."""

from __future__ import annotations

import statistics
import time

import httpx

PASSWORD = "correct horse battery staple"
TRIES = 50


async def elapsed_ms(client: httpx.AsyncClient, email: str) -> float:
    started = time.perf_counter()
    response = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "wrong password entirely"}
    )
    assert response.status_code == 401
    return (time.perf_counter() - started) * 1000


async def test_unknown_and_known_accounts_take_the_same_time_to_refuse(
    unlimited_live_client: httpx.AsyncClient,
) -> None:
    client = unlimited_live_client
    await client.post(
        "/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )
    known, unknown = [], []
    for n in range(TRIES):  # interleaved, so machine noise hits both alike
        known.append(await elapsed_ms(client, "ada@example.com"))
        unknown.append(await elapsed_ms(client, f"nobody-{n}@example.com"))
    difference = abs(statistics.median(known) - statistics.median(unknown))
    assert difference < 15, (statistics.median(known), statistics.median(unknown))
