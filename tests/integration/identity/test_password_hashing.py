"""Argon2id with OWASP parameters, run off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from mercato.platform.security.hashing import Argon2Parameters, PasswordHasher


@pytest.fixture(scope="module")
def hasher() -> Iterator[PasswordHasher]:
    hasher = PasswordHasher()
    yield hasher
    hasher.close()


async def test_the_stored_hash_says_argon2id_with_owasp_parameters(
    hasher: PasswordHasher,
) -> None:
    stored = await hasher.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    salt = stored.split("$")[4]
    assert len(salt) >= 22  # 16 bytes in unpadded base64


async def test_verification(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse battery staple")
    assert (await hasher.verify(stored, "correct horse battery staple")).valid
    assert not (await hasher.verify(stored, "correct horse battery stapler")).valid
    assert not (await hasher.verify("not a hash", "anything")).valid
    assert not (await hasher.verify_nobody("anything")).valid


async def test_no_truncation_a_difference_at_character_100_fails(hasher: PasswordHasher) -> None:
    password = "a" * 99 + "b" + "c" * 20
    stored = await hasher.hash(password)
    assert not (await hasher.verify(stored, "a" * 99 + "X" + "c" * 20)).valid


async def test_weaker_stored_parameters_ask_for_a_rehash(hasher: PasswordHasher) -> None:
    weak = PasswordHasher(Argon2Parameters(memory_kib=8 * 1024, iterations=1))
    try:
        stored = await weak.hash("correct horse battery staple")
    finally:
        weak.close()
    verification = await hasher.verify(stored, "correct horse battery staple")
    assert verification.valid
    assert verification.needs_rehash


async def test_hashing_does_not_block_the_event_loop(hasher: PasswordHasher) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    beat = asyncio.create_task(heartbeat())
    started = time.perf_counter()
    await asyncio.gather(*(hasher.hash(f"password number {n}") for n in range(8)))
    elapsed = time.perf_counter() - started
    stop.set()
    await beat
    # Had the hashes run on the loop, the heartbeat could not have ticked meanwhile.
    assert ticks >= elapsed / 0.001 / 10
