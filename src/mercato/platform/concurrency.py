"""Optimistic concurrency: an update names the version it was based on.

Over HTTP the version arrives either as `If-Match: "<version>"` (the ETag of a read) or as
a `version` field in the body; a stale one answers 412 or 409 respectively, and an update
carrying neither is refused with 428 so that no client overwrites a change it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from mercato.platform.errors import Conflict, PreconditionFailed, PreconditionRequired
from mercato.platform.validation import INT32_MAX

# A version is a positive 32-bit integer: at most ten ASCII digits in its ETag.
_MAX_VERSION_DIGITS = len(str(INT32_MAX))


class VersionConflict(Conflict):
    code = "version-conflict"
    title = "The resource changed since you read it"


def version_etag(version: int) -> str:
    """The strong ETag of a representation that changes exactly when `version` does."""
    return f'"{version}"'


@dataclass(frozen=True, slots=True)
class ExpectedVersion:
    """The version an update was based on (None: `If-Match: *`, any version will do)."""

    version: int | None
    from_if_match: bool

    @classmethod
    def from_request(cls, *, if_match: str | None, body_version: int | None) -> ExpectedVersion:
        if if_match is not None:
            value = if_match.strip()
            if value == "*":
                return cls(None, from_if_match=True)
            # If-Match compares strongly: a weak tag (W/"3") never matches. Anything that is
            # not an ETag we handed out cannot match either (-1 is no version): only ASCII
            # digits count (`int()` also reads "١٢٣", and `isdigit()` is true for "²").
            tag = value[1:-1] if len(value) > 2 and value[0] == value[-1] == '"' else ""
            ours = tag.isascii() and tag.isdigit() and len(tag) <= _MAX_VERSION_DIGITS
            return cls(int(tag) if ours else -1, from_if_match=True)
        if body_version is not None:
            return cls(body_version, from_if_match=False)
        raise PreconditionRequired(
            "Send the version you are changing: an If-Match header with the ETag of your read,"
            ' or a "version" field.'
        )

    def check(self, current: int) -> None:
        if self.version is None or self.version == current:
            return
        if self.from_if_match:
            raise PreconditionFailed("The resource changed since you read it; read it again.")
        raise VersionConflict(
            f"The version you sent is not the current one ({current}); read it again."
        )
