"""Identity queries. Never commits: the use case's unit of work does."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.identity.errors import EmailTaken, RefreshInProgress
from mercato.identity.events import RightsChanged
from mercato.identity.models import (
    OneTimeToken,
    RefreshToken,
    Role,
    RolePermission,
    Session,
    User,
    UserRole,
)
from mercato.platform.db.changes import Changes, Topic, changes_of
from mercato.platform.db.database import WriteSession
from mercato.platform.db.sqlstates import LOCK_NOT_AVAILABLE, UNIQUE_VIOLATION, sqlstate_of
from mercato.platform.events.contracts import EventPayload

ADMIN_ROLE = "admin"
# Users whose sessions or rights a transaction changed: their cached session checks are
# stale after the commit (`principal_cache.on_commit`).
RIGHTS_CHANGED: Topic[uuid.UUID] = Topic("identity.rights-changed")
# pg_advisory_xact_lock key of "the set of administrators" (an arbitrary, fixed number).
ADMIN_SET_LOCK = 7_301_001


class IdentityReads:
    """Identity's queries that only read: usable on a read session or in a use case."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def live_user_by_email(self, email: str) -> User | None:
        return await self._session.scalar(
            select(User).where(User.email == email, User.deleted_at.is_(None))
        )

    async def user(self, user_id: uuid.UUID) -> User | None:
        return await self._session.scalar(
            select(User).where(User.id == user_id, User.deleted_at.is_(None))
        )

    async def roles_of(self, user_id: uuid.UUID) -> tuple[str, ...]:
        rows = await self._session.scalars(
            select(UserRole.role).where(UserRole.user_id == user_id).order_by(UserRole.role)
        )
        return tuple(rows)

    async def grants_of(self, user_id: uuid.UUID) -> tuple[tuple[str, ...], frozenset[str]]:
        """The user's roles and the permissions they grant, in one query."""
        rows = (
            await self._session.execute(
                select(UserRole.role, RolePermission.permission)
                .outerjoin(RolePermission, RolePermission.role == UserRole.role)
                .where(UserRole.user_id == user_id)
            )
        ).all()
        roles = tuple(sorted({row.role for row in rows}))
        return roles, frozenset(row.permission for row in rows if row.permission is not None)

    # --- administration ------------------------------------------------------------------

    async def role_ranks(self) -> dict[str, int]:
        rows = await self._session.execute(select(Role.name, Role.rank))
        return {row.name: row.rank for row in rows}

    async def count_active_admins(self, *, excluding: uuid.UUID) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(UserRole)
            .join(User, User.id == UserRole.user_id)
            .where(
                UserRole.role == ADMIN_ROLE,
                User.id != excluding,
                User.status == "active",
                User.deleted_at.is_(None),
            )
        )
        return count or 0

    async def refresh_token_by_hash(self, token_hash: bytes) -> RefreshToken | None:
        return await self._session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )

    async def refresh_token(self, token_id: uuid.UUID) -> RefreshToken | None:
        return await self._session.scalar(select(RefreshToken).where(RefreshToken.id == token_id))

    async def session(self, session_id: uuid.UUID) -> Session | None:
        return await self._session.scalar(select(Session).where(Session.id == session_id))

    async def live_sessions_of(self, user_id: uuid.UUID) -> list[Session]:
        rows = await self._session.scalars(
            select(Session)
            .where(
                Session.user_id == user_id,
                Session.revoked_at.is_(None),
                Session.absolute_expires_at > func.now(),
            )
            .order_by(Session.last_used_at.desc())
        )
        return list(rows)


class IdentityRepository(IdentityReads):
    """Reads and writes, on the use case's session (never commits)."""

    def __init__(self, session: WriteSession) -> None:
        super().__init__(session)

    async def add_user(self, user: User, *, roles: tuple[str, ...]) -> None:
        """Insert the account (`EmailTaken` if a live account has its address)."""
        self._session.add(user)
        try:
            await self._session.flush()
        except IntegrityError as error:
            if sqlstate_of(error) == UNIQUE_VIOLATION:
                raise EmailTaken() from None
            raise
        for role in roles:
            self._session.add(UserRole(user_id=user.id, role=role))
        await self._session.flush()

    def grant_role(self, user_id: uuid.UUID, role: str) -> None:
        self._session.add(UserRole(user_id=user_id, role=role))
        self._principal_changed(user_id)

    async def lock_admin_set(self) -> None:
        """Serialise changes that could leave no administrator (held until commit)."""
        await self._session.execute(select(func.pg_advisory_xact_lock(ADMIN_SET_LOCK)))

    async def user_for_update(self, user_id: uuid.UUID) -> User | None:
        return await self._session.scalar(
            select(User)
            .where(User.id == user_id, User.deleted_at.is_(None))
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def replace_roles(
        self, user_id: uuid.UUID, *, add: Iterable[str], remove: Iterable[str]
    ) -> None:
        removed = list(remove)
        if removed:
            await self._session.execute(
                delete(UserRole).where(UserRole.user_id == user_id, UserRole.role.in_(removed))
            )
        for role in add:
            self._session.add(UserRole(user_id=user_id, role=role))
        await self._session.flush()
        self._principal_changed(user_id)

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        await self._session.execute(
            update(User)
            .where(User.id == user_id)
            .values(password_hash=password_hash, updated_at=func.now())
        )

    # --- one-time tokens -------------------------------------------------------------

    async def issue_one_time_token(
        self,
        *,
        token_id: uuid.UUID,
        user_id: uuid.UUID,
        purpose: str,
        email: str,
        token_hash: bytes,
        expires_at: dt.datetime,
    ) -> None:
        """A new token voids the user's older unused tokens of the same purpose."""
        await self._session.execute(
            update(OneTimeToken)
            .where(
                OneTimeToken.user_id == user_id,
                OneTimeToken.purpose == purpose,
                OneTimeToken.used_at.is_(None),
            )
            .values(used_at=func.now())
        )
        await self._session.execute(
            insert(OneTimeToken).values(
                id=token_id,
                user_id=user_id,
                purpose=purpose,
                email=email,
                token_hash=token_hash,
                expires_at=expires_at,
            )
        )

    async def void_one_time_tokens(self, user_id: uuid.UUID) -> None:
        await self._session.execute(
            update(OneTimeToken)
            .where(OneTimeToken.user_id == user_id, OneTimeToken.used_at.is_(None))
            .values(used_at=func.now())
        )

    async def consume_one_time_token(
        self, *, token_hash: bytes, purpose: str
    ) -> tuple[uuid.UUID, str] | None:
        """Atomically mark the token used; (user id, email) if it was valid, else None."""
        row = (
            await self._session.execute(
                update(OneTimeToken)
                .where(
                    OneTimeToken.token_hash == token_hash,
                    OneTimeToken.purpose == purpose,
                    OneTimeToken.used_at.is_(None),
                    OneTimeToken.expires_at > func.now(),
                )
                .values(used_at=func.now())
                .returning(OneTimeToken.user_id, OneTimeToken.email)
            )
        ).first()
        return (row.user_id, row.email) if row is not None else None

    async def mark_email_verified(self, *, user_id: uuid.UUID, email: str) -> bool:
        result = await self._session.execute(
            update(User)
            .where(User.id == user_id, User.email == email, User.deleted_at.is_(None))
            .values(email_verified_at=func.coalesce(User.email_verified_at, func.now()))
            .returning(User.id)
        )
        return result.first() is not None

    # --- sessions and refresh tokens ---------------------------------------------------

    async def add_session(self, session: Session) -> None:
        self._session.add(session)
        await self._session.flush()  # its refresh tokens reference it

    def add_refresh_token(self, token: RefreshToken) -> None:
        self._session.add(token)

    async def forget_sealed_successor(self, token_id: uuid.UUID) -> None:
        await self._session.execute(
            update(RefreshToken).where(RefreshToken.id == token_id).values(successor_sealed=None)
        )

    async def lock_session(self, session_id: uuid.UUID) -> Session | None:
        """Row-lock the session without waiting: `RefreshInProgress` (409) while another
        refresh of the same session holds it."""
        try:
            return await self._session.scalar(
                select(Session)
                .where(Session.id == session_id)
                .with_for_update(nowait=True)
                .execution_options(populate_existing=True)
            )
        except DBAPIError as error:
            if sqlstate_of(error) == LOCK_NOT_AVAILABLE:
                raise RefreshInProgress() from None
            raise

    async def revoke_session(self, session_id: uuid.UUID, *, reason: str) -> None:
        revoked = await self._session.scalar(
            update(Session)
            .where(Session.id == session_id, Session.revoked_at.is_(None))
            .values(revoked_at=func.now(), revoke_reason=reason)
            .returning(Session.user_id)
        )
        if revoked is not None:
            self._principal_changed(revoked)

    async def revoke_own_session(
        self, *, session_id: uuid.UUID, user_id: uuid.UUID, reason: str
    ) -> bool:
        """Revoke a session only if it belongs to `user_id` (scoped in SQL: no IDOR)."""
        result = await self._session.execute(
            update(Session)
            .where(
                Session.id == session_id, Session.user_id == user_id, Session.revoked_at.is_(None)
            )
            .values(revoked_at=func.now(), revoke_reason=reason)
            .returning(Session.id)
        )
        if result.first() is None:
            return False
        self._principal_changed(user_id)
        return True

    async def revoke_sessions_of(
        self, user_id: uuid.UUID, *, reason: str, keep: uuid.UUID | None = None
    ) -> int:
        query = update(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
        if keep is not None:
            query = query.where(Session.id != keep)
        result = await self._session.execute(
            query.values(revoked_at=func.now(), revoke_reason=reason).returning(Session.id)
        )
        self._principal_changed(user_id)
        return len(result.all())

    def _principal_changed(self, user_id: uuid.UUID) -> None:
        """Note (for commit listeners) that cached authentications of the user are stale."""
        changes_of(self._session).note(RIGHTS_CHANGED, user_id)


def rights_events(changes: Changes) -> list[tuple[EventPayload, object]]:
    """The unit of work's change events: one `RightsChanged` per user whose sessions or
    rights the transaction changed (the durable side of the commit listener)."""
    return [
        (RightsChanged(user_id=user_id), user_id) for user_id in sorted(changes.of(RIGHTS_CHANGED))
    ]
