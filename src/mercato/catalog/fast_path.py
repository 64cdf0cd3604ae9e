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

import re

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mercato.catalog.aliases import PEEK_STATE, alias_of
from mercato.catalog.api import router
from mercato.catalog.cache import CachedRead
from mercato.catalog.services import CatalogServices
from mercato.platform.deps import runtime_of
from mercato.platform.errors import RateLimited
from mercato.platform.http.caching import cached_read
from mercato.platform.http.policy import RATE_LIMIT_POLICIES
from mercato.platform.http.problems import problem_response
from mercato.platform.http.rate_limits import client_ip
from mercato.platform.listing import link_header

POLICY = "catalog-read"


def cached_get_routes(router: APIRouter) -> list[tuple[re.Pattern[str], APIRoute]]:
    """The router's GET routes (with the pattern their path matches): the ones whose
    answers the cache holds."""
    return [
        (route.path_regex, route)
        for route in router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ())
    ]


class CachedCatalogReads:
    """The middleware (see the module docstring); its routes are the public catalog
    router's GET routes, matched as the router would."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes = cached_get_routes(router)

    def _route(self, path: str) -> APIRoute | None:
        for pattern, route in self._routes:
            if pattern.match(path):
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        runtime = runtime_of(scope)
        catalog = runtime.services(CatalogServices)
        read = await catalog.cache.peek(alias_of(scope))
        if not isinstance(read, CachedRead):
            if read is not None:
                scope.setdefault("state", {})[PEEK_STATE] = read
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        request = Request(scope)
        headers = link_header(read.link)
        limiter = runtime.rate_limiter
        if limiter is not None:
            try:
                headers |= await limiter.enforce(
                    RATE_LIMIT_POLICIES[POLICY],
                    scope="ip",
                    key=client_ip(request, runtime.settings.http),
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
            cache_control=catalog.public_cache_control,
            headers=headers,
        )
        await response(scope, receive, send)
