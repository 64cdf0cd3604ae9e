"""RFC 9457 problem details: every error leaves the API as `application/problem+json`.

Domain errors map to a status once, here, looked up along the exception's MRO so that a
context's `OrderNotFound(NotFound)` needs no registration of its own.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from mercato.platform import errors

PROBLEM_MEDIA_TYPE = "application/problem+json"
# What `instance` keeps as is: a path's own characters; anything else is percent-encoded,
# so a path carrying NUL or control characters is not echoed raw.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_UNSAFE_IN_POINTER = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
PROBLEM_TYPE_BASE = "/problems/"

_STATUS_BY_ERROR: dict[type[errors.ApplicationError], int] = {
    errors.BadRequest: 400,
    errors.Invalid: 422,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.PreconditionRequired: 428,
    errors.Unavailable: 503,
    errors.RateLimited: 429,
}
# Pydantic quotes part of the input in a few messages ("...found `x` at 1" for a UUID):
# cut, so that a problem never echoes what was sent.
_QUOTED_INPUT = re.compile(r"[,:]? found `[^`]*`(?: at \d+)?")
# PostgreSQL SQLSTATEs that mean "try again later", not "you sent something wrong".
_TRANSIENT_SQLSTATES = {"57014", "55P03", "40001", "40P01", "53300", "57P01", "57P03"}
# Class 22, "data exception": a value PostgreSQL (or the driver, encoding a parameter)
# cannot take: out of range, NUL in text, malformed JSON... The request's fault, so a 422.
# Input types (`platform.validation`) refuse these first; this is the safety net.
_DATA_EXCEPTION_CLASS = "22"

logger = structlog.get_logger(__name__)


def problem_type(slug: str) -> str:
    return f"{PROBLEM_TYPE_BASE}{slug}"


def problem_body(
    *,
    status: int,
    slug: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    instance: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": problem_type(slug) if slug else "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail or title or phrase,
    }
    if instance is not None:
        body["instance"] = quote(instance, safe=_PATH_SAFE, errors="replace")
    body.update(extensions)
    return body


def problem_response(
    status: int,
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Response:
    return Response(
        content=orjson.dumps(problem_body(status=status, **fields)),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


class HttpProblem(StarletteHTTPException):
    """An HTTP-level failure raised below the routes (middleware), with a problem type."""

    def __init__(
        self, status_code: int, *, slug: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code, detail=detail, headers=headers)
        self.slug = slug


def _status_for(error: errors.ApplicationError) -> int:
    for cls in type(error).__mro__:
        if cls in _STATUS_BY_ERROR:
            return _STATUS_BY_ERROR[cls]
    return 400


def _field_errors(error: RequestValidationError) -> list[dict[str, str]]:
    """Pydantic errors as JSON-pointer field errors; the submitted input is never echoed."""
    field_errors = []
    for item in error.errors():
        # Unknown keys (and some messages: "found `x` at 1") are the client's text: their
        # control characters are not echoed raw.
        location, *path = (
            _UNSAFE_IN_POINTER.sub("\ufffd", str(part)) for part in item.get("loc", ())
        )
        field_errors.append(
            {
                "in": location,
                "pointer": "/" + "/".join(path),
                "detail": _UNSAFE_IN_POINTER.sub(
                    "\ufffd", _QUOTED_INPUT.sub("", str(item.get("msg", "invalid")))
                ),
                "code": str(item.get("type", "invalid")),
            }
        )
    return field_errors


async def _on_application_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, errors.ApplicationError)
    headers = None
    if isinstance(error, errors.Unavailable):
        headers = {"Retry-After": str(error.retry_after_s)}
    if isinstance(error, errors.Unauthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="mercato"'}
    if isinstance(error, errors.RateLimited):
        headers = error.headers
    extensions = {"errors": error.errors} if error.errors else {}
    return problem_response(
        _status_for(error),
        slug=error.code,
        title=error.title,
        detail=error.detail,
        instance=request.url.path,
        headers=headers,
        **extensions,
    )


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    phrase = HTTPStatus(error.status_code).phrase
    detail = error.detail if isinstance(error.detail, str) and error.detail != phrase else None
    headers = dict(error.headers) if error.headers else None
    if error.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return problem_response(
        error.status_code,
        slug=getattr(error, "slug", None),
        detail=detail,
        instance=request.url.path,
        headers=headers,
    )


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Starlette's 405 names only the methods
    of the first route whose path matched, and a path is often served by several routes
    (`GET`, `PATCH` and `DELETE /users/me` are three)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        # An included router keeps its routes as contexts of its own (FastAPI >= 0.165).
        contexts = getattr(route, "effective_route_contexts", None)
        for candidate in contexts() if contexts is not None else (route,):
            match, _ = candidate.matches(request.scope)
            if match is not Match.NONE:
                methods.update(getattr(candidate, "methods", None) or ())
    return ", ".join(sorted(methods))


async def _on_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return problem_response(
        422,
        slug="validation-error",
        title="The request is not valid",
        detail="One or more fields are invalid; see `errors`.",
        instance=request.url.path,
        errors=_field_errors(error),
    )


async def _on_database_error(request: Request, error: Exception) -> Response:
    """Connection loss and timeouts are 503 (retryable); a value the database refused
    (SQLSTATE class 22) is 422; anything else is our bug (500)."""
    assert isinstance(error, DBAPIError)
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_DATA_EXCEPTION_CLASS):
        # No stack trace and no message (it may quote the value): hostile input must not
        # become an unbounded stream of tracebacks.
        logger.warning("database_refused_value", sqlstate=sqlstate)
        return problem_response(
            422,
            slug="invalid-value",
            title="A value is out of range or malformed",
            detail="A value in the request cannot be stored or compared as sent.",
            instance=request.url.path,
        )
    transient = error.connection_invalidated or sqlstate in _TRANSIENT_SQLSTATES
    logger.error(
        "database_error",
        sqlstate=sqlstate,
        transient=transient,
        error_class=type(error.orig).__name__,
        exc_info=not transient,
    )
    if transient or sqlstate is None:
        return problem_response(
            503,
            slug="database-unavailable",
            title="Service temporarily unavailable",
            detail="The database is unavailable or too slow right now; retry shortly.",
            instance=request.url.path,
            headers={"Retry-After": "5"},
        )
    return internal_error_response(request.url.path)


def internal_error_response(instance: str | None) -> Response:
    return problem_response(
        500,
        slug="internal-error",
        title="Internal server error",
        detail="An unexpected error occurred; it has been logged with the request id.",
        instance=instance,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.ApplicationError, _on_application_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(DBAPIError, _on_database_error)
