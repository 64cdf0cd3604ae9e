"""The per-request session check, cached in Redis (shared by every API process).

Every authenticated request must know that its session is still live, its user active and
what the user's roles grant; that takes PostgreSQL round trips. With Redis the answer is
cached per session for at most a minute, and made stale at once by a per-user generation
counter: any transaction that revokes a session or changes roles notes the user (see
`IdentityRepository._principal_changed`), and after its commit the counter is bumped.

Why a generation and not a DELETE: a request that read PostgreSQL just before the commit
could write its (old) answer back just after the DELETE. Here the request reads the
generation *before* PostgreSQL and stores it with the answer; an answer whose generation
is no longer current is ignored. If Redis cannot be reached the check goes to PostgreSQL,
and while the Redis circuit breaker is open (a hung Redis, `platform.redis`) every check goes
there at once, without waiting for a deadline.

A bump that fails (or is skipped by the open breaker) must not let a stale entry be trusted:
this process then ignores the cache for `TTL_S` (every entry that could predate the lost
bump has expired by then), and replays the lost bumps as soon as the breaker closes again,
for the other processes. Across processes that replay is best effort (a process that dies
first loses it; entries live at most `TTL_S`).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Protocol

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis

from mercato.identity.repository import RIGHTS_CHANGED
from mercato.platform.auth import Principal
from mercato.platform.clock import utc_now
from mercato.platform.db.changes import Changes
from mercato.platform.redis import CircuitOpen, RedisGuard

TTL_S = 60
_GENERATION_TTL_S = 86_400  # far longer than any entry lives
# Lost bumps kept for the replay; beyond this many users the cache is distrusted anyway.
_MAX_PENDING_BUMPS = 10_000
logger = structlog.get_logger(__name__)


class PrincipalCache(Protocol):
    async def lookup(
        self, *, session_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[Principal | None, int | None]:
        """A cached principal, and the generation to store a fresh answer with."""
        ...

    async def store(
        self, principal: Principal, *, generation: int, expires_at: dt.datetime
    ) -> None: ...

    async def forget_users(self, user_ids: set[uuid.UUID]) -> None: ...

    async def on_commit(self, changes: Changes) -> None: ...


class NoPrincipalCache:
    """Without Redis: every request asks PostgreSQL."""

    async def lookup(
        self, *, session_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[Principal | None, int | None]:
        return None, None

    async def store(
        self, principal: Principal, *, generation: int, expires_at: dt.datetime
    ) -> None:
        return None

    async def forget_users(self, user_ids: set[uuid.UUID]) -> None:
        return None

    async def on_commit(self, changes: Changes) -> None:
        return None


class RedisPrincipalCache:
    def __init__(self, redis: Redis, *, registry: CollectorRegistry | None = None) -> None:
        self._redis = redis
        self._guard = RedisGuard.for_client(redis)
        self._guard.breaker.on_recovery(self._replay_lost_bumps)
        # Monotonic time until which entries are not trusted (a bump was lost), and the
        # users whose bumps were lost (replayed when Redis is back).
        self._distrust_until = 0.0
        self._lost_bumps: set[uuid.UUID] = set()
        self._results = Counter(
            "mercato_principal_cache_total",
            "Session checks answered by the cache (hit), by PostgreSQL (miss), by PostgreSQL"
            " because Redis failed (error), was skipped by the open breaker (bypassed) or a"
            " lost invalidation makes the cache untrusted (distrusted)",
            ["result"],
            registry=registry if registry is not None else CollectorRegistry(),
        )

    async def lookup(
        self, *, session_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[Principal | None, int | None]:
        if self._distrust_until and time.monotonic() < self._distrust_until:
            self._results.labels("distrusted").inc()
            return None, None
        try:
            async with self._guard():
                entry, generation = await self._redis.mget(
                    _entry_key(session_id), _generation_key(user_id)
                )
        except CircuitOpen:
            self._results.labels("bypassed").inc()
            return None, None
        except Exception as error:  # noqa: BLE001 - degrade to PostgreSQL, loudly
            self._results.labels("error").inc()
            logger.warning("principal_cache_unavailable", error=str(error))
            return None, None
        current = int(generation or 0)
        principal = _principal_from(
            entry, session_id=session_id, user_id=user_id, generation=current
        )
        self._results.labels("hit" if principal is not None else "miss").inc()
        return principal, current

    async def store(
        self, principal: Principal, *, generation: int, expires_at: dt.datetime
    ) -> None:
        ttl = min(TTL_S, int((expires_at - utc_now()).total_seconds()))
        if ttl <= 0:
            return
        entry = {
            "u": str(principal.user_id),
            "r": list(principal.roles),
            "p": sorted(principal.permissions),
            "g": generation,
            "x": expires_at.timestamp(),
        }
        try:
            async with self._guard():
                await self._redis.set(_entry_key(principal.session_id), orjson.dumps(entry), ex=ttl)
        except CircuitOpen:
            return
        except Exception as error:  # noqa: BLE001 - the answer is right; only not cached
            logger.warning("principal_cache_unavailable", error=str(error))

    async def forget_users(self, user_ids: set[uuid.UUID]) -> None:
        if not user_ids:
            return
        try:
            await self._bump(user_ids)
        except Exception as error:  # noqa: BLE001 - fail closed: distrust, replay later
            self._results.labels("error").inc()
            self._distrust_until = time.monotonic() + TTL_S
            if len(self._lost_bumps) + len(user_ids) <= _MAX_PENDING_BUMPS:
                self._lost_bumps |= user_ids
            logger.error(
                "principal_cache_invalidation_failed",
                error=str(error),
                distrusted_for_s=TTL_S,
                replay_pending=len(self._lost_bumps),
            )

    async def _bump(self, user_ids: set[uuid.UUID]) -> None:
        async with self._guard(), self._redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.incr(_generation_key(user_id))
                pipe.expire(_generation_key(user_id), _GENERATION_TTL_S)
            await pipe.execute()

    async def _replay_lost_bumps(self) -> None:
        """Redis is back: bump the generations the outage swallowed, for every process."""
        lost, self._lost_bumps = self._lost_bumps, set()
        if lost:
            logger.warning("principal_cache_replaying_invalidations", users=len(lost))
            await self.forget_users(lost)

    async def on_commit(self, changes: Changes) -> None:
        """Commit listener: bump the generation of every user the transaction noted."""
        if RIGHTS_CHANGED in changes:
            await self.forget_users(set(changes.of(RIGHTS_CHANGED)))


def _entry_key(session_id: uuid.UUID) -> str:
    return f"identity:principal:{session_id}"


def _generation_key(user_id: uuid.UUID) -> str:
    return f"identity:principal-generation:{user_id}"


def _principal_from(
    raw: bytes | str | None, *, session_id: uuid.UUID, user_id: uuid.UUID, generation: int
) -> Principal | None:
    if raw is None:
        return None
    try:
        entry = orjson.loads(raw)
        if (
            entry["g"] != generation
            or entry["u"] != str(user_id)
            or entry["x"] <= utc_now().timestamp()
        ):
            return None
        return Principal(
            user_id=user_id,
            session_id=session_id,
            roles=tuple(entry["r"]),
            permissions=frozenset(entry["p"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
