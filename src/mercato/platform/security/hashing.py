"""Argon2id password hashing, off the event loop.

Parameters follow OWASP's Password Storage Cheat Sheet minimum for Argon2id (19 MiB,
2 iterations, 1 lane) with a 16-byte salt; the PHC string records them, so raising them
later rehashes each password at its owner's next login (`needs_rehash`). Hashing takes
tens of milliseconds of CPU: it runs in a bounded thread pool (argon2-cffi releases the
GIL), so a login flood queues there instead of stalling every other request.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    memory_kib: int = 19 * 1024
    iterations: int = 2
    lanes: int = 1
    salt_bytes: int = 16
    hash_bytes: int = 32


@dataclass(frozen=True, slots=True)
class Verification:
    valid: bool
    needs_rehash: bool = False


class PasswordHasher:
    """Hash and verify passwords in a pool of `workers` threads.

    Default: one per core but one, so that a login flood leaves a core to the event loop
    (measured on 2 cores: `/users/me` kept 335 req/s instead of 195 during a flood, for
    45 instead of 50 logins/s; docs/benchmarks.md).
    """

    def __init__(
        self, parameters: Argon2Parameters | None = None, *, workers: int | None = None
    ) -> None:
        self.parameters = parameters or Argon2Parameters()
        self._argon2 = Argon2Hasher(
            time_cost=self.parameters.iterations,
            memory_cost=self.parameters.memory_kib,
            parallelism=self.parameters.lanes,
            hash_len=self.parameters.hash_bytes,
            salt_len=self.parameters.salt_bytes,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=workers or max(1, (os.cpu_count() or 1) - 1), thread_name_prefix="argon2"
        )
        # Verified against for unknown accounts, so that "no such user" costs as much as
        # "wrong password" and response times reveal nothing.
        self._dummy_hash = self._argon2.hash("dummy password for unknown accounts")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._argon2.hash, password
        )

    async def verify(self, stored_hash: str, password: str) -> Verification:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._verify, stored_hash, password
        )

    async def verify_nobody(self, password: str) -> Verification:
        """The same work as a real verification, always invalid (unknown account)."""
        await self.verify(self._dummy_hash, password)
        return Verification(valid=False)

    def _verify(self, stored_hash: str, password: str) -> Verification:
        try:
            self._argon2.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(valid=False)
        return Verification(valid=True, needs_rehash=self._argon2.check_needs_rehash(stored_hash))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
