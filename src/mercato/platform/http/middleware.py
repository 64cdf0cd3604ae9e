"""Pure ASGI middleware (no `BaseHTTPMiddleware`: it breaks contextvars and streaming).

Order, outermost first (see `mercato.app.create_app`): the platform layer (request id,
security headers, unhandled errors, access log, metrics) → CORS → request body limits (→ the
catalog's cached-read fast path, `mercato.catalog.fast_path`).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mercato.platform.http.problems import (
    HttpProblem,
    internal_error_response,
    problem_response,
)
from mercato.platform.observability.metrics import HttpMetrics

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only when it is short and cannot inject anything into logs.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_UNMATCHED_ROUTE = "<unmatched>"
_DOCS_PATHS = ("/docs", "/redoc")
_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI and ReDoc load their bundles from a CDN and bootstrap with an inline script.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src 'self' https://fonts.gstatic.com; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'self'"
)
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_UNSUPPORTED_DETAIL = "Request bodies must be JSON (Content-Type: application/json)."

access_log = structlog.get_logger("mercato.access")
error_log = structlog.get_logger("mercato.errors")


def add_response_headers(scope: Scope, headers: dict[str, str]) -> None:
    """Headers for whatever response this request ends with, errors included (added by
    `PlatformMiddleware` unless the response sets them itself)."""
    if headers:
        scope.setdefault("state", {}).setdefault("response_headers", {}).update(headers)


def request_id_of(scope: Scope) -> str | None:
    state: dict[str, Any] = scope.get("state", {})
    request_id = state.get("request_id")
    return request_id if isinstance(request_id, str) else None


def _route_template(scope: Scope) -> str:
    """The matched route's template (`/items/{id}`), so metrics stay low-cardinality."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    # Plain Starlette routes (the docs pages) only leave their endpoint behind; they
    # have no path parameters, so the path is the template.
    return scope["path"] if scope.get("endpoint") is not None else _UNMATCHED_ROUTE


class PlatformMiddleware:
    """What every response gets, in one layer: the request id (in, out, bound into every
    log line), the security headers, a 500 problem for any exception that escapes the
    application (Starlette's own last-resort handler sits outside user middleware, so its
    500 would miss both), one access line and the HTTP metrics.

    One layer rather than three: each costs a coroutine and a `send` wrapper per request,
    which showed on the cached catalog reads (docs/benchmarks.md).
    """

    def __init__(
        self, app: ASGIApp, *, metrics: HttpMetrics, access_log: bool = True, hsts: bool = False
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        # By (docs page, over TLS): HSTS when configured or when the request came over TLS.
        self._headers = {
            (docs, tls): _security_headers(_DOCS_CSP if docs else _API_CSP, hsts=hsts or tls)
            for docs in (False, True)
            for tls in (False, True)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        security_headers = self._headers[
            (scope["path"].startswith(_DOCS_PATHS), scope.get("scheme") == "https")
        ]
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                present = {name.lower() for name, _ in raw}
                raw.append((_REQUEST_ID_RAW, request_id.encode("latin-1")))
                for name, value in state.get("response_headers", {}).items():
                    encoded = name.lower().encode("latin-1")
                    if encoded not in present:
                        raw.append((encoded, value.encode("latin-1")))
                        present.add(encoded)
                # Safe by default: a route that may be cached says so explicitly.
                raw.extend(header for header in security_headers if header[0] not in present)
                message["headers"] = raw
            await send(message)

        started = time.perf_counter()
        self.metrics.in_progress.inc()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                try:
                    await self.app(scope, receive, send_with_headers)
                except Exception:  # noqa: BLE001 - the last line of defence, by design
                    error_log.exception("unhandled_error", path=scope["path"])
                    if not response_started:
                        await internal_error_response(scope["path"])(
                            scope, receive, send_with_headers
                        )
            finally:
                elapsed = time.perf_counter() - started
                self.metrics.in_progress.dec()
                route = _route_template(scope)
                self.metrics.observe(
                    method=scope["method"], route=route, status=status, seconds=elapsed
                )
                client = scope.get("client")
                # The path only: query strings may carry tokens (verification links).
                if self.access_log:
                    access_log.info(
                        "request",
                        method=scope["method"],
                        path=scope["path"],
                        route=route,
                        status=status,
                        duration_ms=round(elapsed * 1000, 2),
                        client_ip=client[0] if client else None,
                    )


_REQUEST_ID_RAW = REQUEST_ID_HEADER.lower().encode("latin-1")


def _security_headers(csp: str, *, hsts: bool) -> tuple[tuple[bytes, bytes], ...]:
    """OWASP-recommended headers, encoded once."""
    headers = {
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
        "content-security-policy": csp,
        "cache-control": "no-store",
    }
    if hsts:
        headers["strict-transport-security"] = "max-age=63072000; includeSubDomains"
    return tuple((name.encode(), value.encode()) for name, value in headers.items())


class RequestBodyMiddleware:
    """413 for bodies over the limit (declared or streamed), 415 for non-JSON bodies."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._too_large(scope, receive, send)
            return
        is_json = _is_json(headers.get("content-type", ""))
        received = 0

        async def checked_receive() -> Message:
            # Checked when the route reads its body, so that 404 and 405 win over 415.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if chunk and not is_json:
                    raise HttpProblem(
                        415,
                        slug="unsupported-media-type",
                        detail=_UNSUPPORTED_DETAIL,
                        headers={"Accept": "application/json"},
                    )
                if received > self.max_body_bytes:
                    raise HttpProblem(413, slug="payload-too-large", detail=self._limit_detail)
            return message

        await self.app(scope, checked_receive, send)

    @property
    def _limit_detail(self) -> str:
        return f"The request body exceeds {self.max_body_bytes} bytes."

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await problem_response(
            413, slug="payload-too-large", detail=self._limit_detail, instance=scope["path"]
        )(scope, receive, send)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
