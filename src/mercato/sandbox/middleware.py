"""The sandbox's own ASGI layers, inside the platform's (request id, security headers,
access log, metrics): faults injected before anything runs, a body size limit and a
last-resort 500, both in the provider's error shape.

Not the platform's `RequestBodyMiddleware`: its answers are problem+json, and it refuses
the form posts of the 3-D Secure page.
"""

from __future__ import annotations

import asyncio

import structlog
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mercato.sandbox.errors import ErrorType, SandboxError, internal_error, request_too_large
from mercato.sandbox.faults import Faults

# The provider API proper; the sandbox's own controls, the customer's page, the ledger
# and the health checks stay reachable whatever the knobs say.
FAULTY_PATHS = ("/v1/payment_methods", "/v1/payment_intents", "/v1/refunds")
RETRY_AFTER_S = 1
_ACTIONS = "/v1/actions/"

logger = structlog.get_logger(__name__)


def _loggable(path: str) -> str:
    return _ACTIONS + "[redacted]" if path.startswith(_ACTIONS) else path


class ProviderSurface:
    """413 for bodies over the limit; any exception that escapes → 500 `api_error`."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await request_too_large(self.max_body_bytes).response()(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # An HTTPException passes through FastAPI's body parsing (anything else
                    # would become a 400) to the handler that answers 413.
                    raise StarletteHTTPException(413)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:  # the last line of defence, by design
            logger.exception("sandbox_unhandled_error", path=_loggable(scope["path"]))
            if not started:
                await internal_error().response()(scope, receive, send)
        finally:
            # The platform's access line, written once this returns, logs the path: an
            # action page's token is a capability and must not be in it.
            scope["path"] = _loggable(scope["path"])


class FaultInjection:
    """Latency, then perhaps a 429 or a 500, before the request does anything at all."""

    def __init__(self, app: ASGIApp, *, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(FAULTY_PATHS):
            await self.app(scope, receive, send)
            return
        knobs = self.faults.knobs
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        if self.faults.throttles_now():
            throttled = SandboxError(
                429,
                "rate_limit",
                "Too many requests (sandbox fault injection); retry later.",
                type_=ErrorType.RATE_LIMIT,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
            await throttled.response()(scope, receive, send)
            return
        if self.faults.fails_now():
            failure = SandboxError(
                500,
                "sandbox_fault",
                "Injected failure (sandbox fault injection); nothing was done.",
                type_=ErrorType.API,
            )
            await failure.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)
