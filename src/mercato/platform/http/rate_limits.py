"""Rate limiting per route policy, per client IP and per user (the `limits` library).

Counters live in Redis when `REDIS_URL` is set (shared by every API process), otherwise in
process memory. A limit that is hit answers 429 with `Retry-After` and the IETF
`RateLimit-Policy` / `RateLimit` headers; every limited response carries the headers too.
If Redis fails, requests are let through (and logged): an outage of the limiter must not
become an outage of the shop.
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
from redis.asyncio import ConnectionPool
from starlette.requests import Request

from mercato.platform.config import HttpSettings
from mercato.platform.errors import RateLimited
from mercato.platform.http.policy import RateLimitPolicy

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
    def __init__(self, storage: Storage, *, pool: ConnectionPool | None = None) -> None:
        self._storage = storage
        self._pool = pool
        self._limiter = FixedWindowRateLimiter(storage)

    @classmethod
    def for_url(cls, redis_url: str | None) -> RateLimiter:
        if redis_url is None:
            return cls(MemoryStorage())
        # Our own pool, with short timeouts: a dead Redis must cost a request milliseconds.
        pool = ConnectionPool.from_url(
            redis_url, socket_connect_timeout=0.5, socket_timeout=0.5, max_connections=20
        )
        uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
        storage = RedisStorage(
            uri,
            implementation="redispy",
            wrap_exceptions=True,
            connection_pool=pool,  # type: ignore[arg-type]  # typed too narrowly upstream
        )
        return cls(storage, pool=pool)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def hit(self, limit: str, *, key: str) -> Decision | None:
        """Count one request against `limit` for `key`; None when the store is unreachable."""
        item: RateLimitItem = parse(limit)
        try:
            allowed = await self._limiter.hit(item, key)
            stats = await self._limiter.get_window_stats(item, key)
        except Exception as error:  # noqa: BLE001 - fail open, loudly
            logger.warning("rate_limiter_unavailable", error=str(error))
            return None
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        return Decision(
            allowed=allowed,
            limit=item.amount,
            remaining=stats.remaining,
            reset_after_s=reset_after,
            window_s=item.get_expiry(),
        )

    async def enforce(self, policy: RateLimitPolicy, *, scope: str, key: str) -> dict[str, str]:
        """Count the request; the headers to send, or RateLimited when over the limit."""
        limit = policy.per_ip if scope == "ip" else policy.per_user
        if limit is None:
            return {}
        decision = await self.hit(limit, key=f"{policy.name}:{scope}:{key}")
        if decision is None:
            return {}
        headers = decision.headers(policy.name)
        if not decision.allowed:
            retry_after = max(1, decision.reset_after_s)
            logger.warning("rate_limited", policy=policy.name, scope=scope)
            raise RateLimited(
                retry_after_s=retry_after, headers={**headers, "Retry-After": str(retry_after)}
            )
        return headers


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
