"""Sessions: open one (for `sign_in`), rotate refresh tokens, sign out, revoke; and the
per-request check that a caller's session is still live (`authenticate`).

Each use case is one unit of work: one transaction, one commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from mercato.identity import opaque_tokens
from mercato.identity.audit import AuditRecord, ClientInfo, record
from mercato.identity.errors import InvalidSession
from mercato.identity.mail_templates import session_ended_for_reuse_mail
from mercato.identity.models import RefreshToken, Session, User
from mercato.identity.repository import IdentityReads, IdentityRepository
from mercato.identity.services import IdentityServices
from mercato.platform.auth import Principal
from mercato.platform.clock import utc_now
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import NotFound
from mercato.platform.ids import uuid7
from mercato.platform.jobs.tasks import send_mail_job
from mercato.platform.security.jwt import InvalidToken


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID
    email_verified: bool


async def open_session(
    users: IdentityRepository, *, user: User, identity: IdentityServices, client: ClientInfo
) -> TokenPair:
    """A new session of `user` (a refresh token family) and its first token pair."""
    settings = identity.settings
    now = utc_now()
    session = Session(
        id=uuid7(),
        user_id=user.id,
        absolute_expires_at=now + dt.timedelta(days=settings.refresh_absolute_days),
        user_agent=(client.user_agent or "")[:500] or None,
        ip=client.ip,
    )
    await users.add_session(session)
    refresh_token = opaque_tokens.new_token()
    users.add_refresh_token(
        RefreshToken(
            id=uuid7(),
            session_id=session.id,
            token_hash=opaque_tokens.digest(refresh_token),
            expires_at=now + dt.timedelta(days=settings.refresh_idle_days),
        )
    )
    verified = user.email_verified_at is not None
    access_token = await _access_token(users, user=user, session=session, identity=identity)
    return TokenPair(access_token, refresh_token, settings.access_ttl_s, session.id, verified)


async def _access_token(
    users: IdentityReads, *, user: User, session: Session, identity: IdentityServices
) -> str:
    token, _ = identity.tokens.issue(
        subject=str(user.id),
        session_id=str(session.id),
        roles=await users.roles_of(user.id),
        email_verified=user.email_verified_at is not None,
    )
    return token


async def refresh(
    *, refresh_token: str, identity: IdentityServices, uow: UnitOfWork, client: ClientInfo
) -> TokenPair:
    """Rotate: the presented token is spent and a successor issued.

    A spent token presented again means it was stolen (or the client is broken): the whole
    session is revoked, in the database, before answering 401. The one exception is a retry
    of the latest rotation within `refresh_grace_s` (a lost response, two tabs): it gets the
    successor already issued, so there is never a second lineage. Concurrent refreshes of
    one session are serialised by a row lock on the session; the loser gets 409.
    """
    settings = identity.settings
    async with uow:
        users = IdentityRepository(uow.session)
        presented = await users.refresh_token_by_hash(opaque_tokens.digest(refresh_token))
        if presented is None:
            raise InvalidSession()
        session = await users.lock_session(presented.session_id)
        await uow.session.refresh(presented)
        now = utc_now()
        if session is None or session.revoked_at is not None or session.absolute_expires_at <= now:
            raise InvalidSession()
        user = await users.user(session.user_id)
        if user is None or user.status != "active":
            raise InvalidSession()
        verified = user.email_verified_at is not None
        if presented.used_at is not None:
            successor = await _successor_within_grace(users, presented, identity=identity, now=now)
            if successor is None:
                await _revoke_for_reuse(
                    uow, users, session=session, user=user, identity=identity, client=client
                )
                await uow.commit()
                raise InvalidSession()
            access_token = await _access_token(users, user=user, session=session, identity=identity)
            await record(uow, AuditRecord("refresh", "grace_retry", actor_user_id=user.id), client)
            await uow.commit()
            return TokenPair(access_token, successor, settings.access_ttl_s, session.id, verified)
        if presented.expires_at <= now:
            raise InvalidSession()
        successor = _rotate(users, presented, session=session, identity=identity, now=now)
        access_token = await _access_token(users, user=user, session=session, identity=identity)
        if presented.parent_id is not None:
            # A newer generation exists: the grandparent's grace is over for good.
            await users.forget_sealed_successor(presented.parent_id)
        session.last_used_at = now
        await record(uow, AuditRecord("refresh", "ok", actor_user_id=user.id), client)
        await uow.commit()
    return TokenPair(access_token, successor, settings.access_ttl_s, session.id, verified)


def _rotate(
    users: IdentityRepository,
    presented: RefreshToken,
    *,
    session: Session,
    identity: IdentityServices,
    now: dt.datetime,
) -> str:
    """Spend `presented` and issue its successor (sealed on the spent row for the grace
    window's retries); the successor's plaintext."""
    successor = opaque_tokens.new_token()
    successor_id = uuid7()
    presented.used_at = now
    presented.replaced_by = successor_id
    presented.successor_sealed = identity.refresh_sealer.seal(
        successor.encode(), associated_data=presented.id.bytes
    )
    users.add_refresh_token(
        RefreshToken(
            id=successor_id,
            session_id=session.id,
            parent_id=presented.id,
            token_hash=opaque_tokens.digest(successor),
            expires_at=min(
                now + dt.timedelta(days=identity.settings.refresh_idle_days),
                session.absolute_expires_at,
            ),
        )
    )
    return successor


async def _successor_within_grace(
    users: IdentityRepository,
    presented: RefreshToken,
    *,
    identity: IdentityServices,
    now: dt.datetime,
) -> str | None:
    """The already issued successor, if `presented` is the immediate predecessor of the
    session's live token and was spent less than `refresh_grace_s` ago."""
    if (
        presented.used_at is None
        or presented.replaced_by is None
        or presented.successor_sealed is None
        or (now - presented.used_at).total_seconds() > identity.settings.refresh_grace_s
    ):
        return None
    successor = await users.refresh_token(presented.replaced_by)
    if successor is None or successor.used_at is not None:
        return None  # two generations old: that is reuse
    opened = identity.refresh_sealer.open(
        presented.successor_sealed, associated_data=presented.id.bytes
    )
    return opened.decode() if opened is not None else None


async def _revoke_for_reuse(
    uow: UnitOfWork,
    users: IdentityRepository,
    *,
    session: Session,
    user: User,
    identity: IdentityServices,
    client: ClientInfo,
) -> None:
    await users.revoke_session(session.id, reason="refresh_token_reuse")
    mail = session_ended_for_reuse_mail(
        to=user.email, links=identity.links, user_agent=session.user_agent
    )
    uow.defer(send_mail_job(mail))
    await record(
        uow,
        AuditRecord(
            "refresh_token_reuse",
            "session_revoked",
            target_user_id=session.user_id,
            details={"session_id": str(session.id)},
        ),
        client,
    )


async def logout(*, principal: Principal, scope: str, uow: UnitOfWork, client: ClientInfo) -> int:
    """`local`: this session; `others`: every other one; `global`: all. Returns how many."""
    async with uow:
        users = IdentityRepository(uow.session)
        if scope == "local":
            await users.revoke_session(principal.session_id, reason="logout")
            count = 1
        else:
            keep = principal.session_id if scope == "others" else None
            count = await users.revoke_sessions_of(principal.user_id, reason="logout", keep=keep)
        await record(uow, AuditRecord("logout", scope, actor_user_id=principal.user_id), client)
        await uow.commit()
    return count


async def revoke_session(
    *, principal: Principal, session_id: uuid.UUID, uow: UnitOfWork, client: ClientInfo
) -> None:
    """Sign out one of the caller's sessions; someone else's answers 404, like a missing one."""
    async with uow:
        revoked = await IdentityRepository(uow.session).revoke_own_session(
            session_id=session_id, user_id=principal.user_id, reason="revoked_by_user"
        )
        if not revoked:
            raise NotFound("There is no such session among yours.")
        await record(
            uow,
            AuditRecord(
                "session_revoke",
                "ok",
                actor_user_id=principal.user_id,
                details={"session_id": str(session_id)},
            ),
            client,
        )
        await uow.commit()


async def authenticate(
    *, access_token: str, identity: IdentityServices, database: Database
) -> Principal:
    """The caller of a request: a valid token whose session is live and user active.

    The session is checked on every request (in PostgreSQL, or in the Redis cache that
    revocations invalidate), so logout and revocation end a token at once.
    """
    try:
        claims = identity.tokens.verify(access_token)
        user_id, session_id = uuid.UUID(claims.subject), uuid.UUID(claims.session_id)
    except (InvalidToken, ValueError):
        raise InvalidSession() from None
    cached, stamp = await identity.principals.lookup(session_id=session_id, user_id=user_id)
    if cached is not None:
        return cached
    # The primary, not a replica: a replica a few hundred ms behind would let a revoked
    # session through.
    async with database.session() as db:
        users = IdentityReads(db)
        session = await users.session(session_id)
        if (
            session is None
            or session.user_id != user_id
            or session.revoked_at is not None
            or session.absolute_expires_at <= utc_now()
        ):
            raise InvalidSession()
        user = await users.user(user_id)
        if user is None or user.status != "active":
            raise InvalidSession()
        roles, permissions = await users.grants_of(user_id)
    principal = Principal(
        user_id=user_id, session_id=session_id, roles=roles, permissions=permissions
    )
    if stamp is not None:
        await identity.principals.store(
            principal, stamp=stamp, expires_at=session.absolute_expires_at
        )
    return principal
