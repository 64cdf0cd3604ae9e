"""The rate-limit policies routes choose from (`platform.auth` declares them per route).

Limits are in `limits` notation ("20/minute"); None means no limit on that key. Every
route names one through its auth policy dependency (`public("login")`,
`require("catalog:write")`, ...); a test walks the route table and fails on a route that
names none.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
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
