"""The shared parts of every OpenAPI document: the `Problem` schema (RFC 9457, exactly
what `platform.http.problems` sends, `errors[]` included), the headers Mercato sends and
accepts, and a described, exampled error response per status."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from mercato.platform.http.middleware import REQUEST_ID_HEADER
from mercato.platform.http.problems import PROBLEM_MEDIA_TYPE, problem_type
from mercato.platform.idempotency import HEADER as IDEMPOTENCY_KEY
from mercato.platform.idempotency import MAX_KEY_LENGTH, REPLAYED_HEADER

PROBLEM = "Problem"
FIELD_ERROR = "FieldError"
# FastAPI's own validation error models: never sent (422 is a Problem), so never declared.
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


PROBLEM_SCHEMAS: dict[str, Any] = {
    PROBLEM: {
        "title": "Problem",
        "description": (
            "RFC 9457 problem details, the body of every error (`application/problem+json`)."
            " `type` is a stable identifier to branch on; `detail` is for people."
        ),
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {
                "type": "string",
                "description": "`/problems/<slug>`, or `about:blank` for plain HTTP errors",
                "examples": ["/problems/not-found"],
            },
            "title": {"type": "string", "description": "A short summary of the problem type"},
            "status": {"type": "integer", "description": "The HTTP status code"},
            "detail": {"type": "string", "description": "This occurrence, for people"},
            "instance": {"type": "string", "description": "The request path"},
            "errors": {
                "type": "array",
                "description": "The fields at fault (validation errors)",
                "items": ref("schemas", FIELD_ERROR),
            },
        },
        "additionalProperties": True,
    },
    FIELD_ERROR: {
        "title": "FieldError",
        "description": "One field at fault: where, and why. The value sent is never echoed.",
        "type": "object",
        "required": ["pointer", "detail"],
        "properties": {
            "in": {
                "type": "string",
                "description": "`body`, `query`, `path`, `header` or `cookie`",
                "examples": ["body"],
            },
            "pointer": {
                "type": "string",
                "description": "A JSON pointer into that part of the request",
                "examples": ["/email"],
            },
            "detail": {"type": "string", "description": "What is wrong with it"},
            "code": {
                "type": "string",
                "description": "A stable code for it",
                "examples": ["missing"],
            },
        },
        "additionalProperties": True,
    },
}


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


HEADERS: dict[str, Any] = {
    REQUEST_ID_HEADER: _header(
        "The request's correlation id (yours when you sent a valid one), also in the logs."
    ),
    "RateLimit": _header('What is left of the limit: `"default";r=299;t=60`.'),
    "RateLimit-Policy": _header('The limit applied: `"default";q=300;w=60`.'),
    "Retry-After": _header("Seconds to wait before retrying.", {"type": "integer"}),
    "WWW-Authenticate": _header('`Bearer realm="mercato"`'),
    "ETag": _header("The representation's strong validator (send it as If-Match to update it)."),
    "Location": _header("Where the created resource is."),
    "Cache-Control": _header("How long browsers and shared caches may keep this answer."),
    "Link": _header('The next page, when there is one: `</api/v1/...&cursor=...>; rel="next"`.'),
    REPLAYED_HEADER: _header(
        "`true` when this is the stored answer to an earlier request with the same key.",
        {"type": "string", "enum": ["true"]},
    ),
}

# Request headers some operations accept (copied into each operation's parameters).
PARAMETERS: dict[str, Any] = {
    IDEMPOTENCY_KEY: {
        "name": IDEMPOTENCY_KEY,
        "in": "header",
        "required": False,
        "description": (
            "Makes a retry safe: the same key with the same request within 24 h answers the"
            " stored response (`Idempotent-Replayed: true`); with a different body, 422; while"
            " the first is still running, 409."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
        "example": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
    },
    "If-None-Match": {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "The ETag you hold: 304 Not Modified, with no body, while it is current.",
        "schema": {"type": "string", "maxLength": 200},
    },
}

# What each error status means, whatever the route (a route's table may say more).
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request cannot be processed as sent.",
    401: "No valid access token: send `Authorization: Bearer <token>`.",
    403: "The caller is not allowed to do this.",
    404: "There is no such resource (or it is not yours).",
    409: "Conflicts with the current state (see `type`).",
    412: "If-Match names a version that is no longer current: read it again.",
    413: "The request body is larger than the server accepts.",
    415: "The request body is not JSON.",
    422: "The request is not valid: `errors` names each field at fault.",
    428: "An update must name the version it changes: If-Match or a `version` field.",
    429: "Too many requests: wait `Retry-After` seconds.",
    503: "A dependency is unavailable or too slow right now: retry after `Retry-After`.",
}

# Problem type, title (None: the status phrase) and detail of each status's example.
_EXAMPLE_SLUGS: dict[int, tuple[str, str | None, str]] = {
    400: ("bad-request", "Bad request", "The request cannot be processed as sent."),
    401: ("unauthenticated", "Authentication required", "Send an access token."),
    403: ("permission-denied", "Permission denied", "This needs a permission you lack."),
    404: ("not-found", "Not found", "Not found"),
    409: ("conflict", "Conflict with the current state", "Read the resource again."),
    412: ("precondition-failed", "Precondition failed", "The resource changed since you read it."),
    413: ("payload-too-large", None, "The body is larger than allowed."),
    415: ("unsupported-media-type", None, "Send application/json."),
    428: ("precondition-required", "Precondition required", "Send If-Match or `version`."),
    429: ("rate-limited", "Too many requests", "Retry in 12 seconds."),
    503: ("database-unavailable", "Service temporarily unavailable", "Retry shortly."),
}


def problem_example(status: int, path: str) -> dict[str, Any]:
    """A representative problem for `status` at `path` (a template path is fine)."""
    if status == 422:
        return {
            "type": problem_type("validation-error"),
            "title": "The request is not valid",
            "status": 422,
            "detail": "One or more fields are invalid; see `errors`.",
            "instance": path,
            "errors": [
                {"in": "body", "pointer": "/email", "detail": "Field required", "code": "missing"}
            ],
        }
    phrase = HTTPStatus(status).phrase
    slug, title, detail = _EXAMPLE_SLUGS.get(status, ("error", phrase, phrase))
    return {
        "type": problem_type(slug),
        "title": title or phrase,
        "status": status,
        "detail": detail,
        "instance": path,
    }


def error_response(status: int, *, path: str, description: str | None) -> dict[str, Any]:
    """A problem+json response for `status`, with its description and an example."""
    return {
        "description": description or ERROR_DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": ref("schemas", PROBLEM),
                "example": problem_example(status, path),
            }
        },
    }


def install(components: dict[str, Any]) -> None:
    """Add the shared schemas and headers; drop FastAPI's validation models."""
    schemas = components.setdefault("schemas", {})
    for name in FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas.update(PROBLEM_SCHEMAS)
    components.setdefault("headers", {}).update(HEADERS)
