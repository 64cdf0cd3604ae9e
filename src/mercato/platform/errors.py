"""Domain errors. Contexts subclass these; the HTTP layer maps each base class once.

Only `platform.http` knows about status codes: a use case raises `NotFound`, a route never
builds an error response by hand.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """Base of every expected, user-facing failure.

    `code` is a stable machine-readable slug (it becomes the problem `type`); `detail` is a
    sentence for humans that must not contain secrets or internal identifiers.
    """

    code = "application-error"
    title = "Request failed"

    def __init__(
        self, detail: str | None = None, *, errors: list[dict[str, str]] | None = None
    ) -> None:
        self.detail = detail or self.title
        # Field errors, rendered as the problem's `errors` member (pointer, detail, code).
        self.errors = errors or []
        super().__init__(self.detail)


class Invalid(ApplicationError):
    code = "invalid"
    title = "The request is not valid"


class Unauthenticated(ApplicationError):
    code = "unauthenticated"
    title = "Authentication required"


class PermissionDenied(ApplicationError):
    code = "permission-denied"
    title = "Permission denied"


class NotFound(ApplicationError):
    code = "not-found"
    title = "Not found"


class Conflict(ApplicationError):
    code = "conflict"
    title = "Conflict with the current state"


class PreconditionFailed(ApplicationError):
    code = "precondition-failed"
    title = "Precondition failed"


class PreconditionRequired(ApplicationError):
    """An update came without `If-Match` or `version`: it could overwrite someone's change."""

    code = "precondition-required"
    title = "Precondition required"


class Unavailable(ApplicationError):
    """A dependency (database, broker, provider) cannot serve the request right now."""

    code = "unavailable"
    title = "Service temporarily unavailable"

    def __init__(self, detail: str | None = None, *, retry_after_s: int = 5) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class RateLimited(ApplicationError):
    code = "rate-limited"
    title = "Too many requests"

    def __init__(self, *, retry_after_s: int, headers: dict[str, str]) -> None:
        super().__init__(f"Too many requests; retry in {retry_after_s} s.")
        self.retry_after_s = retry_after_s
        self.headers = headers


class BadRequest(ApplicationError):
    code = "bad-request"
    title = "Bad request"
