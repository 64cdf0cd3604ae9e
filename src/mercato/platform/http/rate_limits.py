"""Rate limiting per route policy, per client IP and per user (the `limits` library).

Counters live in Redis when `REDIS_URL` is set (shared by every API process), otherwise in
process memory. A limit that is hit answers 429 with `Retry-After` and the IETF
`RateLimit-Policy` / `RateLimit` headers; every limited response carries the headers too.

The Redis counters go through the shared client's guard (`platform.redis`: a deadline per
decision, one circuit breaker for the process). When Redis fails or the breaker is open,
the decision falls back to in-process counters: the limits still hold, per API process
(with N processes a client gets at most N times its quota), and an outage of the limiter
never becomes an outage of the shop nor lets an unbounded flood through.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import Redis
from starlette.requests import Request

from mercato.platform.config import HttpSettings
from mercato.platform.errors import RateLimited
from mercato.platform.http.policy import RateLimitPolicy
from mercato.platform.redis import CircuitOpen, RedisGuard

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after_s: int
    window_s: int

    def headers(self, policy_name: str) -> dict[str, str]:
        return {
            "RateLimit-Policy": f'"{policy_name}";q={self.limit};w={self.window_s}',
            "RateLimit": f'"{policy_name}";r={self.remaining};t={self.reset_after_s}',
        }


class RateLimiter:
    def __init__(self, storage: Storage, *, guard: RedisGuard | None = None) -> None:
        """`storage` counts; with a `guard` it is Redis, and in-process counters stand in
        whenever Redis fails or its breaker is open."""
        self._limiter = FixedWindowRateLimiter(storage)
        self._guard = guard
        self._local = FixedWindowRateLimiter(MemoryStorage()) if guard is not None else None

    @classmethod
    def for_redis(cls, redis: Redis | None) -> RateLimiter:
        """Counters in `redis` (its pool and its guard: the process's shared client), or in
        process memory without Redis."""
        if redis is None:
            return cls(MemoryStorage())
        storage = RedisStorage(
            "async+redis://",  # unused: the client's own pool connects
            implementation="redispy",
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # typed too narrowly upstream
        )
        return cls(storage, guard=RedisGuard.for_client(redis))

    async def close(self) -> None:
        """Nothing to close: the pool belongs to the shared client."""

    async def hit(self, limit: str, *, key: str) -> Decision:
        """Count one request against `limit` for `key` (in Redis, or in this process when
        Redis cannot take it)."""
        item: RateLimitItem = parse(limit)
        if self._guard is None or self._local is None:
            return await _decide(self._limiter, item, key)
        try:
            async with self._guard():
                return await _decide(self._limiter, item, key)
        except CircuitOpen:
            pass
        except Exception as error:  # noqa: BLE001 - in-process counters take over, loudly
            logger.warning("rate_limiter_unavailable", error=str(error))
        return await _decide(self._local, item, key)

    async def enforce(self, policy: RateLimitPolicy, *, scope: str, key: str) -> dict[str, str]:
        """Count the request; the headers to send, or RateLimited when over the limit."""
        limit = policy.per_ip if scope == "ip" else policy.per_user
        if limit is None:
            return {}
        decision = await self.hit(limit, key=f"{policy.name}:{scope}:{key}")
        headers = decision.headers(policy.name)
        if not decision.allowed:
            retry_after = max(1, decision.reset_after_s)
            logger.warning("rate_limited", policy=policy.name, scope=scope)
            raise RateLimited(
                retry_after_s=retry_after, headers={**headers, "Retry-After": str(retry_after)}
            )
        return headers


async def _decide(limiter: FixedWindowRateLimiter, item: RateLimitItem, key: str) -> Decision:
    allowed = await limiter.hit(item, key)
    stats = await limiter.get_window_stats(item, key)
    return Decision(
        allowed=allowed,
        limit=item.amount,
        remaining=stats.remaining,
        reset_after_s=max(0, math.ceil(stats.reset_time - time.time())),
        window_s=item.get_expiry(),
    )


def client_ip(request: Request, settings: HttpSettings) -> str:
    """The caller's address: the peer, or — only when the peer is a trusted proxy — the
    nearest address in X-Forwarded-For that is not itself a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    if not settings.trusted_proxies or not _is_trusted(peer, settings.trusted_proxies):
        return peer
    forwarded = [
        hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()
    ]
    for hop in reversed(forwarded):
        if not _is_trusted(hop, settings.trusted_proxies):
            return hop if is_ip_address(hop) else peer
    return peer


def is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(proxy, strict=False) for proxy in proxies)
