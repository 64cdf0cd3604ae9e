"""Cache-aside for public catalog reads: encoded response bytes + ETag, per query.

Keys are `catalog:<shape>:<generation>:<what>`:
- `shape` is a hash of the response schemas, so a deploy that changes a representation
  never reads entries written by the previous version;
- `generation` is a counter bumped after every committed catalog change (a commit
  listener, on every API process's shared Redis), read *before* the database: an answer
  computed from data older than a change is stored under a generation nobody reads any
  more. Catalog writes are rare next to reads, so one counter for the whole catalog keeps
  this simple and exact.

Stampede protection: on a miss one request per key recomputes (a `SET NX` lock); the
others wait for its result for up to `WAIT_S`, then compute for themselves. Redis errors
degrade to the database (counted as `error`), never to a failed request; while the Redis
circuit breaker is open (`platform.redis`: a hung Redis) reads skip Redis altogether and are
computed from the database (counted as `bypassed`), costing no deadline.

Aliases (the exact request line, for the fast path, `fast_path.py`) are read in one call
that needs no generation first, so their keys carry none:
`catalog:<shape>:raw:<path?query>`. They stay exact all the same: one is only written
while the generation it was computed under is still the current one (checked atomically
in Lua), and a bump deletes every alias (they are indexed, at most `MAX_ALIASES`, in a
sorted set by expiry) in the same atomic step. The fast path's one call also takes the
alias's recomputation lock on a miss (`Peek`), so a miss costs two round trips: that
call, and the store that releases the lock.

Without `REDIS_URL` (the default `make run` setup) each process caches in memory and
retires its entries on a PostgreSQL signal (`platform.db.broadcast`, topic `catalog`) that
every writer sends after its commit: another API process, a `mercato catalog import`, a
seed, a worker consuming catalog events.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from mercato.catalog.schemas import CategoryOut, ProductCard, ProductOut, SellableVariantOut
from mercato.platform.db.changes import Topic
from mercato.platform.redis import CircuitOpen, RedisGuard

logger = structlog.get_logger(__name__)

# Products and categories a transaction changed: cached reads are stale after its commit.
CATALOG_CHANGED: Topic[uuid.UUID] = Topic("catalog.changed")
# Products whose units moved with no variant's availability crossing zero (a checkout's
# reservation, a paid order): public reads show availability as yes/no, so they stay true
# and are retired only where exact counts are shown (`CATALOG_EXPOSE_STOCK_COUNTS`).
STOCK_LEVELS_CHANGED: Topic[uuid.UUID] = Topic("catalog.stock-levels-changed")
# `ProductChanged.change` of such a move.
STOCK_LEVEL_CHANGE = "stock_level"
TTL_S = 300
WAIT_S = 2.0
_POLL_S = 0.02
_LOCK_MS = 5_000
# Bounds what one bump deletes (and blocks Redis for): beyond it, new request lines are
# not aliased (still cached under their canonical key, just not served by the fast path).
MAX_ALIASES = 50_000


def _shape() -> str:
    schemas = orjson.dumps(
        [
            ProductCard.model_json_schema(),
            ProductOut.model_json_schema(),
            SellableVariantOut.model_json_schema(),
            CategoryOut.model_json_schema(),
        ],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(schemas).hexdigest()[:12]


SHAPE = _shape()


@dataclass(frozen=True, slots=True)
class CachedRead:
    body: bytes
    etag: str
    link: str | None = None

    def encode(self) -> bytes:
        return orjson.dumps({"etag": self.etag, "link": self.link}) + b"\n" + self.body

    @classmethod
    def decode(cls, raw: bytes | str | None) -> CachedRead | None:
        """The entry, or None for none or one that does not decode (treated as a miss:
        a damaged or foreign value must never become an answer, nor a 500)."""
        if raw is None:
            return None
        data = raw if isinstance(raw, bytes) else raw.encode()
        head, _, body = data.partition(b"\n")
        try:
            meta = orjson.loads(head)
            etag, link = meta["etag"], meta["link"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            logger.warning("catalog_cache_entry_unreadable")
            return None
        if not isinstance(etag, str) or not (link is None or isinstance(link, str)):
            return None
        return cls(body=body, etag=etag, link=link)


Compute = Callable[[], Awaitable[CachedRead]]


@dataclass(frozen=True, slots=True)
class Peek:
    """A fast-path miss: the generation read before the database, and whether this request
    now holds the alias's recomputation lock (the others wait for its entry)."""

    generation: int
    leader: bool


# KEYS: the alias, the generation counter. ARGV: the lock's lifetime in ms. A hit is the
# entry itself (a plain bulk reply, as cheap to read as a GET); a miss is {generation,
# 1 if this caller now holds the alias's lock else 0}.
_PEEK = """
local entry = redis.call('GET', KEYS[1])
if entry then return entry end
local generation = redis.call('GET', KEYS[2]) or '0'
if redis.call('SET', KEYS[1] .. ':lock', '1', 'NX', 'PX', ARGV[1]) then
  return {generation, 1}
end
return {generation, 0}
"""
# KEYS[1]: the generation counter. ARGV: the entry key's prefix and suffix around the
# generation, and the lock's lifetime in ms. One round trip answers
# {generation, entry, 0}, or on a miss {generation, false, 1} when this caller now holds
# the recomputation lock (atomically with the miss, so no leader ever computes an entry
# another one has just stored). A missing GET is `false` in Lua: the array keeps its shape.
_LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. generation .. ARGV[2]
local entry = redis.call('GET', key)
if entry then
  return {generation, entry, 0}
end
if redis.call('SET', key .. ':lock', '1', 'NX', 'PX', ARGV[3]) then
  return {generation, false, 1}
end
return {generation, false, 0}
"""


# KEYS: the generation counter, the alias index. ARGV: the generation the read was
# computed under, the encoded read, the TTL, now (unix seconds), the alias cap, then the
# canonical key (or ''), its lock to release (or ''), and the alias key (or ''). One round
# trip; the alias only if no bump came in since, so a bump can never leave one behind.
_STORE = """
local ttl, now = tonumber(ARGV[3]), tonumber(ARGV[4])
if ARGV[6] ~= '' then redis.call('SET', ARGV[6], ARGV[2], 'EX', ttl) end
if ARGV[7] ~= '' then redis.call('DEL', ARGV[7]) end
if ARGV[8] == '' or (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 0 end
redis.call('SET', ARGV[8], ARGV[2], 'EX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[8])
redis.call('EXPIRE', KEYS[2], ttl + 1)  -- outlives the newest alias, hence all of them
return 1
"""
# KEYS: the generation counter, the alias index. Bumps the generation and deletes every
# alias, atomically with respect to `_STORE`.
_BUMP = """
local generation = redis.call('INCR', KEYS[1])
local aliases = redis.call('ZRANGE', KEYS[2], 0, -1)
for start = 1, #aliases, 1000 do
  redis.call('UNLINK', unpack(aliases, start, math.min(start + 999, #aliases)))
end
redis.call('DEL', KEYS[2])
return generation
"""


class CatalogCache(Protocol):
    async def fetch(
        self, what: str, compute: Compute, *, alias: str | None = None, peek: Peek | None = None
    ) -> CachedRead:
        """The cached read of `what`, computed once on a miss. `alias` (the raw request
        line) is remembered for the same read, for `peek` (the fast path); with the `Peek`
        of that line's miss, the alias's lock decides who computes."""
        ...

    async def peek(self, alias: str) -> CachedRead | Peek | None:
        """The read cached under `alias`; on a miss a `Peek` (or None when the cache cannot
        tell: errors, a damaged entry). Never computes."""
        ...

    async def invalidate(self) -> None:
        """Retire every cached read; failures are logged (the event consumer retries)."""
        ...

    async def bump(self) -> None:
        """Retire every cached read, raising if that cannot be done (for retries)."""
        ...


class ResultCounter:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.counter = Counter(
            "mercato_catalog_cache_total",
            "Catalog reads answered from the cache (hit), computed (miss), computed"
            " because the cache failed (error) or was skipped by the open breaker (bypassed)",
            ["result"],
            registry=registry if registry is not None else CollectorRegistry(),
        )

    def __call__(self, result: str) -> None:
        self.counter.labels(result).inc()


class RedisCatalogCache:
    def __init__(self, redis: Redis, *, registry: CollectorRegistry | None = None) -> None:
        self._redis = redis
        self._guard = RedisGuard.for_client(redis)
        self._count = ResultCounter(registry)
        self._generation_key = f"catalog:{SHAPE}:generation"
        self._alias_index = f"catalog:{SHAPE}:aliases"
        self._lookup_script = redis.register_script(_LOOKUP)
        self._peek_script = redis.register_script(_PEEK)
        self._store_script = redis.register_script(_STORE)
        self._bump_script = redis.register_script(_BUMP)

    async def fetch(
        self, what: str, compute: Compute, *, alias: str | None = None, peek: Peek | None = None
    ) -> CachedRead:
        if alias is not None and peek is not None:
            return await self._fetch_alias(alias, compute, peek)
        try:
            async with self._guard():
                generation, raw, leader = await self._lookup(what)
        except Exception as error:  # noqa: BLE001 - the database can answer alone
            return await self._degraded(error, compute)
        key = self._key(generation, what)
        alias = alias if alias != what else None
        cached = CachedRead.decode(raw)
        if cached is not None:
            self._count("hit")
            if alias is not None:
                await self._store(cached, generation, alias=alias)
            return cached
        self._count("miss")
        damaged = raw is not None  # replaced right away, as the leader of a miss would
        if not leader and not damaged:
            read = await self._wait_for(key, compute)
            if alias is not None:
                await self._store(read, generation, alias=alias)
            return read
        return await self._compute_and_store(
            compute, generation, key=key, lock=key if leader else None, alias=alias
        )

    async def _fetch_alias(self, alias: str, compute: Compute, peek: Peek) -> CachedRead:
        """A fast-path miss: its lock was taken (or not) in the same call as the lookup."""
        self._count("miss")
        key = self._alias_key(alias)
        if not peek.leader:
            return await self._wait_for(key, compute)
        return await self._compute_and_store(compute, peek.generation, lock=key, alias=alias)

    async def _compute_and_store(
        self,
        compute: Compute,
        generation: int,
        *,
        key: str | None = None,
        lock: str | None,
        alias: str | None,
    ) -> CachedRead:
        try:
            read = await compute()
        except Exception:
            if lock is not None:  # the waiters compute for themselves now, not wait it out
                await self._release(lock)
            raise
        await self._store(read, generation, key=key, unlock=lock, alias=alias)
        return read

    async def peek(self, alias: str) -> CachedRead | Peek | None:
        try:
            async with self._guard():
                found = await self._peek(self._alias_key(alias))
        except Exception:  # noqa: BLE001 - the slow path will tell (and count) it
            return None
        if isinstance(found, list):
            generation, leader = found
            return Peek(int(generation), bool(leader))
        read = CachedRead.decode(found)
        if read is not None:
            self._count("hit")
        return read

    async def _peek(self, key: str) -> Any:
        return await self._run(self._peek_script, [key, self._generation_key], [_LOCK_MS])

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        # EVALSHA straight: redis-py's Script wrapper costs a fifth of a hit's round trip.
        try:
            return await self._redis.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:  # a restarted or flushed Redis: load it once more
            return await script(keys=keys, args=args)

    async def _lookup(self, what: str) -> tuple[int, bytes | None, bool]:
        generation, raw, leader = await self._lookup_script(
            keys=[self._generation_key], args=[f"catalog:{SHAPE}:", f":{what}", _LOCK_MS]
        )
        return int(generation), raw, bool(leader)

    def _key(self, generation: int, what: str) -> str:
        return f"catalog:{SHAPE}:{generation}:{what}"

    def _alias_key(self, alias: str) -> str:
        return f"catalog:{SHAPE}:raw:{alias}"

    async def _store(
        self,
        read: CachedRead,
        generation: int,
        *,
        key: str | None = None,
        unlock: str | None = None,
        alias: str | None = None,
    ) -> None:
        """Write `read` under `key`, release the lock of `unlock`, and write `read` under
        `alias` if `generation` is still the current one: one round trip."""
        try:
            async with self._guard():
                await self._run(
                    self._store_script,
                    [self._generation_key, self._alias_index],
                    [
                        generation,
                        read.encode(),
                        TTL_S,
                        int(time.time()),
                        MAX_ALIASES,
                        key or "",
                        f"{unlock}:lock" if unlock is not None else "",
                        self._alias_key(alias) if alias is not None else "",
                    ],
                )
        except Exception as error:  # noqa: BLE001 - answered anyway; just not cached
            _unavailable(error)

    async def _wait_for(self, key: str, compute: Compute) -> CachedRead:
        """The leader's result; computed here when the leader failed (its lock is gone with
        no entry) or is too slow."""
        give_up_at = time.monotonic() + WAIT_S
        while time.monotonic() < give_up_at:
            await asyncio.sleep(_POLL_S)
            try:
                async with self._guard():
                    raw, locked = await self._redis.mget(key, f"{key}:lock")
            except Exception as error:  # noqa: BLE001
                return await self._degraded(error, compute)
            read = CachedRead.decode(raw)
            if read is not None:
                return read
            if locked is None:
                break
        return await compute()

    async def _release(self, key: str) -> None:
        try:
            async with self._guard():
                await self._redis.delete(f"{key}:lock")
        except Exception as error:  # noqa: BLE001 - the lock expires by itself
            _unavailable(error)

    async def _degraded(self, error: Exception, compute: Compute) -> CachedRead:
        if isinstance(error, CircuitOpen):  # the breaker logged the outage once
            self._count("bypassed")
        else:
            self._count("error")
            logger.warning("catalog_cache_unavailable", error=str(error))
        return await compute()

    async def bump(self) -> None:
        """Retire every entry and alias (raises if Redis cannot be reached)."""
        async with self._guard():
            await self._bump_script(keys=[self._generation_key, self._alias_index])

    async def invalidate(self) -> None:
        try:
            await self.bump()
        except Exception as error:  # noqa: BLE001 - the event consumer retries; TTL bounds it
            self._count("error")
            logger.error("catalog_cache_invalidation_failed", error=str(error), stale_for_s=TTL_S)


def _unavailable(error: Exception) -> None:
    if not isinstance(error, CircuitOpen):  # the breaker logged the outage once
        logger.warning("catalog_cache_unavailable", error=str(error))
