"""The per-request session check, cached in Redis (shared by every API process).

Every authenticated request must know that its session is still live, its user active and
what the user's roles grant; that takes PostgreSQL round trips. With Redis the answer is
cached per session for at most a minute, and made stale at once by a per-user generation
counter: any transaction that revokes a session or changes roles notes the user (see
`IdentityRepository._principal_changed`), and after its commit the counter is bumped.

Why a generation and not a DELETE: a request that read PostgreSQL just before the commit
could write its (old) answer back just after the DELETE. Here the request reads the
generation *before* PostgreSQL and stores it with the answer; an answer whose generation
is no longer current is ignored.

Revocation must hold at once even when Redis fails, so the cache fails closed:
- A bump lost to a failing Redis would leave the revoked session's entry valid when Redis
  comes back. So once any Redis call of this process fails, the process stops reading the
  cache (PostgreSQL answers every check) until it has bumped a global *epoch*, stamped on
  every entry like the generation: that one INCR retires every entry written before it,
  including any whose bump was lost. A background probe retries it every
  `PROBE_INTERVAL_S` while Redis is down or hung.
- A process that saw nothing fail (idle during the outage) learns of the lost bump from
  the epoch bump of the process that lost it, within `PROBE_INTERVAL_S` of Redis's return,
  or from the `identity-sessions` consumer group: every such change is also an event
  (`RightsChanged`, in the same transaction), whose consumer bumps the generation with
  retries, so a process that dies before it recovers does not take the bump with it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.asyncio import Redis

from mercato.identity.repository import RIGHTS_CHANGED
from mercato.platform.auth import Principal
from mercato.platform.clock import utc_now
from mercato.platform.db.changes import Changes
from mercato.platform.redis import RedisGuard

TTL_S = 60
PROBE_INTERVAL_S = 0.25
_GENERATION_TTL_S = 86_400  # far longer than any entry lives
_EPOCH_KEY = "identity:principal-epoch"
logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Stamp:
    """What an entry must carry to be current: its user's generation and the epoch."""

    generation: int
    epoch: int


class PrincipalCache(Protocol):
    async def lookup(
        self, *, session_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[Principal | None, Stamp | None]:
        """A cached principal, and the stamp to store a fresh answer with (None: do not
        store one)."""
        ...

    async def store(
        self, principal: Principal, *, stamp: Stamp, expires_at: dt.datetime
    ) -> None: ...

    async def bump(self, user_ids: Iterable[uuid.UUID]) -> None:
        """Retire the users' entries now; raises if Redis cannot be told (consumers retry)."""
        ...

    async def on_commit(self, changes: Changes) -> None: ...

    async def close(self) -> None: ...


class NoPrincipalCache:
    """Without Redis: every request asks PostgreSQL."""

    async def lookup(
        self, *, session_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[Principal | None, Stamp | None]:
        return None, None

    async def store(self, principal: Principal, *, stamp: Stamp, expires_at: dt.datetime) -> None:
        return None

    async def bump(self, user_ids: Iterable[uuid.UUID]) -> None:
        return None

    async def on_commit(self, changes: Changes) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisPrincipalCache:
    def __init__(
        self,
        redis: Redis,
        *,
        registry: CollectorRegistry | None = None,
        probe_interval_s: float = PROBE_INTERVAL_S,
    ) -> None:
        self._redis = redis
        # The process's deadline and circuit breaker: a hung Redis costs a request nothing
        # once the breaker is open (and a failure here distrusts the cache, see above).
        self._guard = RedisGuard.for_client(redis)
        self._probe_interval_s = probe_interval_s
        registry = registry if registry is not None else CollectorRegistry()
        self._results = Counter(
            "mercato_principal_cache_total",
            "Session checks answered by the cache (hit), by PostgreSQL (miss), or by"
            " PostgreSQL because Redis failed or is not trusted yet (error)",
            ["result"],
            registry=registry,
        )
        self._distrusted_gauge = Gauge(
            "mercato_principal_cache_distrusted",
            "1 while a Redis failure keeps this process off the session-check cache",
            registry=registry,
        )
        # Set by any failed Redis call; cleared once the epoch bump succeeded with no
        # failure in between (`_recover`).
        self._distrusted = False
        self._failures = 0
        self._recovery: asyncio.Task[None] | None = None

    async def lookup(
        self, *, session_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[Principal | None, Stamp | None]:
        if self._distrusted:
            self._results.labels("error").inc()
            return None, None
        try:
            async with self._guard():
                entry, generation, epoch = await self._redis.mget(
                    _entry_key(session_id), _generation_key(user_id), _EPOCH_KEY
                )
        except Exception as error:  # noqa: BLE001 - degrade to PostgreSQL, loudly
            self._results.labels("error").inc()
            self._distrust("lookup", error)
            return None, None
        stamp = Stamp(generation=int(generation or 0), epoch=int(epoch or 0))
        principal = _principal_from(entry, session_id=session_id, user_id=user_id, stamp=stamp)
        self._results.labels("hit" if principal is not None else "miss").inc()
        return principal, stamp

    async def store(self, principal: Principal, *, stamp: Stamp, expires_at: dt.datetime) -> None:
        ttl = min(TTL_S, int((expires_at - utc_now()).total_seconds()))
        if ttl <= 0 or self._distrusted:
            return
        entry = {
            "u": str(principal.user_id),
            "r": list(principal.roles),
            "p": sorted(principal.permissions),
            "g": stamp.generation,
            "e": stamp.epoch,
            "x": expires_at.timestamp(),
        }
        try:
            async with self._guard():
                await self._redis.set(_entry_key(principal.session_id), orjson.dumps(entry), ex=ttl)
        except Exception as error:  # noqa: BLE001 - the answer is right; only not cached
            self._distrust("store", error)

    async def bump(self, user_ids: Iterable[uuid.UUID]) -> None:
        users = set(user_ids)
        if not users:
            return
        async with self._guard(), self._redis.pipeline(transaction=False) as pipe:
            for user_id in users:
                pipe.incr(_generation_key(user_id))
                pipe.expire(_generation_key(user_id), _GENERATION_TTL_S)
            await pipe.execute()

    async def on_commit(self, changes: Changes) -> None:
        """Commit listener: bump the generation of every user the transaction noted; if
        Redis fails, fail closed until the epoch is bumped (the module doc says why)."""
        if RIGHTS_CHANGED not in changes:
            return
        try:
            await self.bump(changes.of(RIGHTS_CHANGED))
        except Exception as error:  # noqa: BLE001 - committed already; fail closed instead
            self._results.labels("error").inc()
            self._distrust("invalidation", error)

    async def close(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
            self._recovery = None

    def _distrust(self, operation: str, error: BaseException) -> None:
        self._failures += 1
        if not self._distrusted:
            self._distrusted = True
            self._distrusted_gauge.set(1)
            logger.warning(
                "principal_cache_distrusted",
                operation=operation,
                error=str(error) or type(error).__name__,
                detail="session checks go to PostgreSQL until Redis takes an epoch bump",
            )
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        """Bump the epoch, retrying until Redis answers with no failure meanwhile; then
        read the cache again (every entry from before is retired by the bump)."""
        while self._distrusted:
            await asyncio.sleep(self._probe_interval_s)
            failures = self._failures
            try:
                async with self._guard():
                    await self._redis.incr(_EPOCH_KEY)
            except Exception:  # noqa: BLE001, S112 - Redis still away: probe again
                continue
            if self._failures == failures:
                self._distrusted = False
                self._distrusted_gauge.set(0)
                logger.info("principal_cache_trusted_again")


def _entry_key(session_id: uuid.UUID) -> str:
    return f"identity:principal:{session_id}"


def _generation_key(user_id: uuid.UUID) -> str:
    return f"identity:principal-generation:{user_id}"


def _principal_from(
    raw: bytes | str | None, *, session_id: uuid.UUID, user_id: uuid.UUID, stamp: Stamp
) -> Principal | None:
    if raw is None:
        return None
    try:
        entry = orjson.loads(raw)
        if (
            entry["g"] != stamp.generation
            or entry["e"] != stamp.epoch
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
