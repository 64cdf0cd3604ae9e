"""The fast path of public catalog reads: a cached answer for this exact request line is
served without routing, validation or dependencies.

Only answers the slow path (the FastAPI routes) produced, validated and stored for the
very same path and query string are served here (under that "alias"; a catalog change
deletes every alias with the rest, `cache.py`). Anything else (a miss, another method,
Redis trouble) goes down to the routes; on a miss, with what the lookup learnt (`Peek`:
the generation, and whether this request holds the line's recomputation lock). This sits
inside the platform middleware: request id, security headers, CORS, metrics and the access
log apply as to any response; the route's per-IP rate limit is applied here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mercato.catalog.cache import CachedRead, CatalogCache, Peek
from mercato.platform.config import Settings
from mercato.platform.errors import RateLimited
from mercato.platform.http.caching import cached_read
from mercato.platform.http.policy import PUBLIC, RATE_LIMIT_POLICIES, route_policy
from mercato.platform.http.problems import problem_response
from mercato.platform.http.rate_limits import RateLimiter, client_ip
from mercato.platform.listing import link_header

POLICY = "catalog-read"
_PEEK_STATE = "catalog_peek"
_PRODUCTS = "/api/v1/products"
_CATEGORIES = "/api/v1/categories"


@dataclass(frozen=True, slots=True)
class _Route:
    """What metrics and rate limits read from a matched route."""

    path: str
    openapi_extra: dict[str, Any]


_ROUTES = {
    name: _Route(name, route_policy(auth=PUBLIC, rate_limit=POLICY))
    for name in (
        _PRODUCTS,
        f"{_PRODUCTS}/{{id_or_slug}}",
        _CATEGORIES,
        f"{_CATEGORIES}/{{slug}}",
    )
}


def public_cache_control(settings: Settings) -> str:
    """`Cache-Control` of public catalog reads (browsers and CDNs may keep them)."""
    return f"public, max-age={settings.catalog.public_max_age_s}"


def alias_of(scope: Scope) -> str:
    """The request line a cached read is remembered under for this fast path."""
    query = scope.get("query_string", b"").decode("latin-1")
    return f"raw:{scope['path']}?{query}"


def peek_of(scope: Scope) -> Peek | None:
    """What this path's lookup learnt when it missed (the routes pass it to `fetch`)."""
    peek = scope.get("state", {}).get(_PEEK_STATE)
    return peek if isinstance(peek, Peek) else None


def _template(path: str) -> str | None:
    if path in (_PRODUCTS, _CATEGORIES):
        return path
    for collection, parameter in ((_PRODUCTS, "{id_or_slug}"), (_CATEGORIES, "{slug}")):
        rest = path.removeprefix(collection + "/")
        if rest != path and rest and "/" not in rest:
            return f"{collection}/{parameter}"
    return None


class CachedCatalogReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        template = _template(scope["path"]) if scope["type"] == "http" else None
        if template is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        cache: CatalogCache | None = getattr(state, "catalog_cache", None)
        read = await cache.peek(alias_of(scope)) if cache is not None else None
        if not isinstance(read, CachedRead):
            if read is not None:
                scope.setdefault("state", {})[_PEEK_STATE] = read
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTES[template]
        request = Request(scope)
        headers = link_header(read.link)
        limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
        if limiter is not None:
            try:
                headers |= await limiter.enforce(
                    RATE_LIMIT_POLICIES[POLICY],
                    scope="ip",
                    key=client_ip(request, state.settings.http),
                )
            except RateLimited as limited:
                refused = problem_response(
                    429,
                    slug=limited.code,
                    title=limited.title,
                    detail=limited.detail,
                    instance=scope["path"],
                    headers=limited.headers,
                )
                await refused(scope, receive, send)
                return
        response = cached_read(
            request,
            body=read.body,
            etag=read.etag,
            cache_control=public_cache_control(state.settings),
            headers=headers,
        )
        await response(scope, receive, send)
