"""The catalog read cache in one process, for setups without Redis (`make run`): an LRU
of bounded size with the contract of `cache.CatalogCache`. Other processes' changes reach
it as a PostgreSQL signal (`platform.db.broadcast`): `forget` drops every entry, and
`invalidate` also tells the others (see the `cache` module doc)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry

from mercato.catalog.cache import (
    TTL_S,
    CachedRead,
    Compute,
    Peek,
    ResultCounter,
)

Announce = Callable[[], Awaitable[None]]


async def _nobody_else() -> None:
    return None


class LocalCatalogCache:
    """The same contract in one process (no Redis): an LRU of bounded size. `announce`
    tells the other processes to `forget` theirs after a change (module doc)."""

    def __init__(
        self,
        *,
        max_entries: int = 2_000,
        registry: CollectorRegistry | None = None,
        announce: Announce = _nobody_else,
    ) -> None:
        self._announce = announce
        self._entries: OrderedDict[str, tuple[float, CachedRead]] = OrderedDict()
        self._max_entries = max_entries
        self._generation = 0
        self._in_flight: dict[str, asyncio.Future[CachedRead]] = {}
        self._count = ResultCounter(registry)

    async def fetch(
        self, what: str, compute: Compute, *, alias: str | None = None, peek: Peek | None = None
    ) -> CachedRead:
        generation = self._generation
        read = self._get(generation, what)
        if read is not None:
            self._count("hit")
        else:
            self._count("miss")
            read = await self._compute_once(generation, what, compute)
        if alias is not None and alias != what:
            self._put(generation, alias, read)
        return read

    async def peek(self, alias: str) -> CachedRead | None:
        read = self._get(self._generation, alias)
        if read is not None:
            self._count("hit")
        return read

    def _get(self, generation: int, what: str) -> CachedRead | None:
        key = f"{generation}:{what}"
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def _put(self, generation: int, what: str, read: CachedRead) -> None:
        if generation != self._generation:  # a change came in meanwhile: keep nothing
            return
        self._entries[f"{generation}:{what}"] = (time.monotonic() + TTL_S, read)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def _compute_once(self, generation: int, what: str, compute: Compute) -> CachedRead:
        key = f"{generation}:{what}"
        pending = self._in_flight.get(key)
        if pending is not None:  # someone computes it already: share the answer
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedRead] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            read = await compute()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # consumed: no "never retrieved" warning without waiters
            raise
        finally:
            self._in_flight.pop(key, None)
        future.set_result(read)
        self._put(generation, what, read)
        return read

    @property
    def generation(self) -> int:
        """Bumped by every retirement (entries of older generations are never read)."""
        return self._generation

    def forget(self) -> None:
        """Retire this process's entries (another process changed the catalog)."""
        self._generation += 1
        self._entries.clear()

    async def invalidate(self) -> None:
        self.forget()
        await self._announce()

    async def bump(self) -> None:
        await self.invalidate()
