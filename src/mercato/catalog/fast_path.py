"""The fast path of public catalog reads: a cached answer for this exact request line is
served without routing, validation or dependencies, and so is a miss of the two hottest
reads (the public list without search, a product page; `direct_reads.py`).

Only answers the slow path (the FastAPI routes) would give for the very same path and
query string are served here (under that "alias"; a catalog change deletes every alias
with the rest, `cache.py`). Anything else (another read's miss, a request line that does
not validate as it stands, another method, Redis trouble) goes down to the routes; on a
miss, with what the lookup learnt (`Peek`: the generation, and whether this request holds
the line's recomputation lock). This sits inside the platform middleware: request id,
security headers, CORS, metrics and the access log apply as to any response; the route's
per-IP rate limit is applied here.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mercato.catalog.aliases import PEEK_STATE, alias_of
from mercato.catalog.api import router
from mercato.catalog.cache import CachedRead, Peek
from mercato.catalog.direct_reads import direct_read
from mercato.catalog.services import CatalogServices
from mercato.platform.deps import runtime_of
from mercato.platform.errors import RateLimited
from mercato.platform.http.caching import cached_read
from mercato.platform.http.policy import RATE_LIMIT_POLICIES
from mercato.platform.http.problems import problem_response
from mercato.platform.http.rate_limits import client_ip
from mercato.platform.listing import link_header
from mercato.platform.runtime import Runtime

POLICY = "catalog-read"
_REFUSAL_STATE = "catalog_rate_limited"


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

    def _route(self, path: str) -> tuple[APIRoute, re.Match[str]] | None:
        for pattern, route in self._routes:
            match = pattern.match(path)
            if match is not None:
                return route, match
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = self._route(scope["path"]) if scope["type"] == "http" else None
        if matched is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        route, match = matched
        runtime = runtime_of(scope)
        catalog = runtime.services(CatalogServices)
        alias = alias_of(scope)
        found = await catalog.cache.peek(alias)
        direct = (
            direct_read(route, match.groupdict(), scope, database=runtime.database, catalog=catalog)
            if isinstance(found, Peek)
            else None
        )
        if not isinstance(found, CachedRead) and direct is None:
            if found is not None:
                scope.setdefault("state", {})[PEEK_STATE] = found
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        request = Request(scope)
        headers = await _rate_limit_headers(request, runtime)
        if headers is None:
            await _refuse(scope, receive, send)
            return
        if isinstance(found, CachedRead):
            read = found
        else:
            assert isinstance(found, Peek)
            assert direct is not None
            try:
                read = await catalog.cache.fetch(
                    direct.cache_key, direct.compute, alias=alias, peek=found
                )
            except Exception as error:  # noqa: BLE001 - answered as the route would be
                await _error_response(scope, request, error)(scope, receive, send)
                return
        response = cached_read(
            request,
            body=read.body,
            etag=read.etag,
            cache_control=catalog.public_cache_control,
            headers=headers | link_header(read.link),
        )
        await response(scope, receive, send)


async def _rate_limit_headers(request: Request, runtime: Runtime) -> dict[str, str] | None:
    """The route's per-IP limit, counted: its headers, or None when the limit is hit
    (the refusal is in the request's state for `_refuse`)."""
    limiter = runtime.rate_limiter
    if limiter is None:
        return {}
    try:
        return await limiter.enforce(
            RATE_LIMIT_POLICIES[POLICY],
            scope="ip",
            key=client_ip(request, runtime.settings.http),
        )
    except RateLimited as limited:
        request.scope.setdefault("state", {})[_REFUSAL_STATE] = limited
        return None


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    limited: RateLimited = scope["state"][_REFUSAL_STATE]
    refused = problem_response(
        429,
        slug=limited.code,
        title=limited.title,
        detail=limited.detail,
        instance=scope["path"],
        headers=limited.headers,
    )
    await refused(scope, receive, send)


def _error_response(scope: Scope, request: Request, error: Exception) -> ASGIApp:
    """What the application's own handler for `error` answers (a 404 problem for an
    unknown product, a 503 for a database timeout), as the route's failure would get;
    errors without a handler go on to the platform layer's last-resort 500."""
    handlers = scope["app"].exception_handlers
    for kind in type(error).__mro__:
        handler = handlers.get(kind)
        if handler is not None:
            return _HandledError(handler, request, error)
    raise error


class _HandledError:
    def __init__(self, handler: Any, request: Request, error: Exception) -> None:
        self._handler, self._request, self._error = handler, request, error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._handler(self._request, self._error)
        await response(scope, receive, send)
