"""Administrators' searches: accounts by a fragment of their email or name (pg_trgm
indexes), and the security audit log; allow-listed sorts, keyset pages."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import Select, exists, func, or_, select

from mercato.identity.models import AuditEntry, User, UserRole
from mercato.platform.listing import (
    Sort,
    SortField,
    parse_datetime,
    parse_int,
    parse_str,
    parse_uuid,
)


@dataclass(frozen=True, slots=True)
class UserCriteria:
    """Admin search filters; `q` is a substring of the email or the name."""

    q: str | None = None
    role: str | None = None
    status: str | None = None
    verified: bool | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


USER_SORT_FIELDS = {
    "created_at": SortField(User.created_at, parse_datetime),
    "email": SortField(User.email, parse_str),
    "name": SortField(func.coalesce(User.name, ""), parse_str),
}
USER_TIEBREAKER = SortField(User.id, parse_uuid)


def _like_pattern(fragment: str) -> str:
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def user_search(criteria: UserCriteria) -> Select[User]:
    """The filtered users (any order); the trigram indexes serve `q`."""
    query = select(User)
    if criteria.status == "deleted":
        query = query.where(User.deleted_at.is_not(None))
    else:
        query = query.where(User.deleted_at.is_(None))
        if criteria.status is not None:
            query = query.where(User.status == criteria.status)
    if criteria.q is not None:
        pattern = _like_pattern(criteria.q)
        query = query.where(
            or_(User.email.ilike(pattern, escape="\\"), User.name.ilike(pattern, escape="\\"))
        )
    if criteria.role is not None:
        query = query.where(
            exists().where(UserRole.user_id == User.id, UserRole.role == criteria.role)
        )
    if criteria.verified is not None:
        verified = User.email_verified_at.is_not(None)
        query = query.where(verified if criteria.verified else ~verified)
    if criteria.created_after is not None:
        query = query.where(User.created_at >= criteria.created_after)
    if criteria.created_before is not None:
        query = query.where(User.created_at < criteria.created_before)
    return query


@dataclass(frozen=True, slots=True)
class AuditCriteria:
    actor: uuid.UUID | None = None
    target: uuid.UUID | None = None
    action: str | None = None
    occurred_after: dt.datetime | None = None
    occurred_before: dt.datetime | None = None


# The log is read newest first; its identity column orders it like time does.
AUDIT_SORT = Sort.parse(
    "-id",
    allowed={"id": SortField(AuditEntry.id, parse_int)},
    tiebreaker=SortField(AuditEntry.id, parse_int),
)


def audit_search(criteria: AuditCriteria) -> Select[AuditEntry]:
    query = select(AuditEntry)
    if criteria.actor is not None:
        query = query.where(AuditEntry.actor_user_id == criteria.actor)
    if criteria.target is not None:
        query = query.where(AuditEntry.target_user_id == criteria.target)
    if criteria.action is not None:
        query = query.where(AuditEntry.action == criteria.action)
    if criteria.occurred_after is not None:
        query = query.where(AuditEntry.occurred_at >= criteria.occurred_after)
    if criteria.occurred_before is not None:
        query = query.where(AuditEntry.occurred_at < criteria.occurred_before)
    return query
