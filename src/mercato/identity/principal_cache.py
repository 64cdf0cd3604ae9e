"""The per-request session check, cached in Redis (shared by every API process).

Every authenticated request must know that its session is still live, its user active and
what the user's roles grant; that takes PostgreSQL round trips. With Redis the answer is
cached per session for at most a minute, and made stale at once by a per-user generation
counter: any transaction that revokes a session or changes roles notes the user (see
`IdentityRepository._principal_changed`), and after its commit the counter is bumped.

Why a generation and not a DELETE: a request that read PostgreSQL just before the commit
could write its (old) answer back just after the DELETE. Here the request reads the
generation *before* PostgreSQL and stores it with the answer; an answer whose generation
is no longer current is ignored. If Redis cannot be reached the check goes to PostgreSQL;
if the bump itself fails, stale entries live at most `TTL_S` (logged and counted).
"""

from __future__ import annotations

import datetime as dt
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
from mercato.platform.redis import deadline

TTL_S = 60
_GENERATION_TTL_S = 86_400  # far longer than any entry lives
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
        self._results = Counter(
            "mercato_principal_cache_total",
            "Session checks answered by the cache (hit), by PostgreSQL (miss), or by"
            " PostgreSQL because Redis failed (error)",
            ["result"],
            registry=registry if registry is not None else CollectorRegistry(),
        )

    async def lookup(
        self, *, session_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[Principal | None, int | None]:
        try:
            async with deadline():
                entry, generation = await self._redis.mget(
                    _entry_key(session_id), _generation_key(user_id)
                )
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
            async with deadline():
                await self._redis.set(_entry_key(principal.session_id), orjson.dumps(entry), ex=ttl)
        except Exception as error:  # noqa: BLE001 - the answer is right; only not cached
            logger.warning("principal_cache_unavailable", error=str(error))

    async def forget_users(self, user_ids: set[uuid.UUID]) -> None:
        if not user_ids:
            return
        try:
            async with deadline(), self._redis.pipeline(transaction=False) as pipe:
                for user_id in user_ids:
                    pipe.incr(_generation_key(user_id))
                    pipe.expire(_generation_key(user_id), _GENERATION_TTL_S)
                await pipe.execute()
        except Exception as error:  # noqa: BLE001 - entries expire within TTL_S anyway
            self._results.labels("error").inc()
            logger.error("principal_cache_invalidation_failed", error=str(error), stale_for_s=TTL_S)

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
