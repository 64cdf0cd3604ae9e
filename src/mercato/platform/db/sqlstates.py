"""PostgreSQL error codes the repositories turn into domain errors.

Only repositories read SQLSTATEs: a use case sees `DuplicateProduct` or `RefreshInProgress`,
never a driver error.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

UNIQUE_VIOLATION = "23505"
LOCK_NOT_AVAILABLE = "55P03"


def sqlstate_of(error: DBAPIError) -> str | None:
    """The SQLSTATE of a driver error wrapped by SQLAlchemy, if it carries one."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else None
