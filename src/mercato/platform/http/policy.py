"""Every route declares who may call it and which rate-limit policy applies.

`route_policy(auth=..., rate_limit=...)` goes into the route's `openapi_extra` (so it also
shows in the OpenAPI document); a test walks the route table and fails on a route without
one, or on a route that authenticates callers while declaring itself public.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

AUTH_KEY = "x-mercato-auth"
RATE_LIMIT_KEY = "x-mercato-rate-limit"
PUBLIC = "public"
AUTHENTICATED = "authenticated"


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """Limits in `limits` notation ("20/minute"); None means no limit on that key."""

    name: str
    per_ip: str | None
    per_user: str | None = None


RATE_LIMIT_POLICIES = {
    policy.name: policy
    for policy in (
        RateLimitPolicy("default", per_ip="300/minute", per_user="600/minute"),
        RateLimitPolicy("login", per_ip="20/minute"),
        RateLimitPolicy("register", per_ip="10/minute"),
        RateLimitPolicy("refresh", per_ip="60/minute"),
        RateLimitPolicy("email-token", per_ip="10/minute"),
        RateLimitPolicy("catalog-read", per_ip="1200/minute", per_user="2400/minute"),
        RateLimitPolicy("operations", per_ip=None),  # probes and scrapes: never limited
    )
}


def route_policy(*, auth: str, rate_limit: str = "default") -> dict[str, Any]:
    """`auth`: "public", "authenticated" or "permission:<name>"."""
    if rate_limit not in RATE_LIMIT_POLICIES:
        raise ValueError(f"unknown rate-limit policy {rate_limit!r}")
    if auth not in {PUBLIC, AUTHENTICATED} and not auth.startswith("permission:"):
        raise ValueError(f"unknown auth policy {auth!r}")
    return {AUTH_KEY: auth, RATE_LIMIT_KEY: rate_limit}


def declared_policy(scope: Scope) -> RateLimitPolicy | None:
    """The rate-limit policy of the route that matched this request, if it declares one."""
    extra = getattr(scope.get("route"), "openapi_extra", None) or {}
    name = extra.get(RATE_LIMIT_KEY)
    return RATE_LIMIT_POLICIES.get(name) if isinstance(name, str) else None
