"""The provider's error shape, `{"error": {"type", "code", "message", "param"?}}`.

The sandbox mimics a card processor, so its errors look like one's (docs/sandbox.md), not
like Mercato's problem+json. Messages are fixed sentences: no submitted value (a card
number, a CVC, a key) is ever echoed back or logged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response


class ErrorType(StrEnum):
    INVALID_REQUEST = "invalid_request_error"
    CARD = "card_error"
    API = "api_error"
    RATE_LIMIT = "rate_limit_error"


class SandboxError(Exception):
    """An answer the provider means: invalid request, wrong state, card error, outage."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        type_: ErrorType = ErrorType.INVALID_REQUEST,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.type = type_
        self.param = param
        self.headers = headers
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "type": self.type.value,
            "code": self.code,
            "message": self.message,
        }
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}

    def response(self) -> Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


def json_response(
    body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        content=orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def not_found(kind: str, param: str = "id") -> SandboxError:
    return SandboxError(404, "resource_missing", f"No such {kind.replace('_', ' ')}.", param=param)


def unexpected_state(kind: str, status: str, action: str) -> SandboxError:
    return SandboxError(
        400,
        f"{kind}_unexpected_state",
        f"You cannot {action} this {kind.replace('_', ' ')} because it has a status of {status}.",
    )


def internal_error() -> SandboxError:
    return SandboxError(
        500, "internal_error", "An unexpected error occurred; it was logged.", type_=ErrorType.API
    )


def request_too_large(limit: int | None = None) -> SandboxError:
    limit_text = f"{limit} bytes" if limit is not None else "the limit"
    return SandboxError(413, "request_too_large", f"The request body exceeds {limit_text}.")


def _param_of(location: tuple[Any, ...]) -> str:
    """`("body", "card", "number")` → `card[number]`, the way card processors name fields."""
    parts = [str(part) for part in location[1:]] or [str(part) for part in location]
    head, *rest = parts
    return head + "".join(f"[{part}]" for part in rest)


async def _on_sandbox_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, SandboxError)
    return error.response()


async def _on_validation_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    # The first problem only, as processors do; pydantic's `input` is never sent back.
    first = error.errors()[0] if error.errors() else {}
    kind = str(first.get("type", "invalid"))
    param = _param_of(tuple(first.get("loc", ("body",))))
    if kind == "json_invalid":
        invalid = SandboxError(400, "parameter_invalid", "The body is not valid JSON.")
    elif kind == "missing":
        invalid = SandboxError(
            400, "parameter_missing", f"Missing required param: {param}.", param=param
        )
    else:
        message = str(first.get("msg", "Invalid value")).removeprefix("Value error, ")
        invalid = SandboxError(
            400, "parameter_invalid", f"Invalid {param}: {message}.", param=param
        )
    return invalid.response()


async def _on_http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    headers = dict(error.headers) if error.headers else None
    if error.status_code == 404:
        return SandboxError(
            404, "resource_missing", "Unrecognised request URL.", headers=headers
        ).response()
    if error.status_code == 413:
        return request_too_large().response()
    if error.status_code == 405:
        return SandboxError(
            405, "method_not_allowed", "This URL does not accept this method.", headers=headers
        ).response()
    return SandboxError(
        error.status_code, "invalid_request", "The request cannot be served.", headers=headers
    ).response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SandboxError, _on_sandbox_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
