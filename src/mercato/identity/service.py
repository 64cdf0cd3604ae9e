"""Identity use cases. Each is one unit of work: one transaction, one commit."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError

from mercato.identity import opaque_tokens, throttle
from mercato.identity.audit import AuditRecord, ClientInfo, record
from mercato.identity.emails import InvalidEmail, normalise_email
from mercato.identity.errors import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidOneTimeToken,
    InvalidSession,
    RefreshInProgress,
    WeakPassword,
    WrongCurrentPassword,
)
from mercato.identity.events import EmailVerified, UserRegistered
from mercato.identity.messages import (
    already_registered_mail,
    password_changed_mail,
    reset_password_mail,
    session_ended_for_reuse_mail,
    verification_mail,
)
from mercato.identity.models import RefreshToken, Session, User
from mercato.identity.passwords import password_problems
from mercato.identity.repository import IdentityRepository
from mercato.platform.config import IdentitySettings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import NotFound
from mercato.platform.ids import uuid7
from mercato.platform.jobs.tasks import send_mail_job
from mercato.platform.security.jwt import AccessTokens, InvalidToken
from mercato.platform.security.passwords import PasswordHasher
from mercato.platform.security.sealing import Sealer

if TYPE_CHECKING:
    from mercato.identity.principal_cache import PrincipalCache

logger = structlog.get_logger(__name__)

DEFAULT_ROLE = "customer"
VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a token purpose, not a password
_LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID
    email_verified: bool


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    roles: tuple[str, ...]
    permissions: frozenset[str]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def register(
    *,
    email: str,
    password: str,
    name: str | None,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    settings: IdentitySettings,
    client: ClientInfo,
) -> None:
    """Create an account and mail a verification link; answer the same for a taken email.

    The owner of an address that already has an account gets a "someone tried to
    register" mail instead, and the caller cannot tell the difference (no enumeration):
    the password is hashed either way, so the time taken is the same too.
    """
    problems = password_problems(password, email=email)
    if problems:
        raise WeakPassword(
            "Choose another password.",
            errors=[{"pointer": "/password", "detail": p.detail, "code": p.code} for p in problems],
        )
    password_hash = await hasher.hash(password)
    try:
        async with uow:
            users = IdentityRepository(uow.session)
            existing = await users.live_user_by_email(email)
            if existing is not None:
                uow.defer(
                    send_mail_job(already_registered_mail(to=email, public_url=settings.public_url))
                )
                await record(
                    uow,
                    AuditRecord("register", "existing_email", target_user_id=existing.id),
                    client,
                )
                await uow.commit()
                return
            user = User(id=uuid7(), email=email, password_hash=password_hash, name=name)
            users.add_user(user, roles=(DEFAULT_ROLE,))
            await uow.session.flush()
            await _mail_verification_link(uow, users, user=user, settings=settings)
            uow.publish(UserRegistered(user_id=user.id), aggregate_id=user.id)
            await record(uow, AuditRecord("register", "created", target_user_id=user.id), client)
            await uow.commit()
    except IntegrityError:
        # Two registrations of one address raced; the other one won. Same answer.
        logger.info("register_race_lost")


async def resend_verification(
    *, email: str, uow: UnitOfWork, settings: IdentitySettings, client: ClientInfo
) -> None:
    """A fresh verification link (voiding older ones) for an unverified account; the
    answer never says whether there was one."""
    try:
        normalised = normalise_email(email)
    except InvalidEmail:
        return
    async with uow:
        users = IdentityRepository(uow.session)
        user = await users.live_user_by_email(normalised)
        if user is None or user.email_verified_at is not None or user.status != "active":
            await uow.commit()
            return
        await _mail_verification_link(uow, users, user=user, settings=settings)
        await record(
            uow, AuditRecord("resend_verification", "mailed", target_user_id=user.id), client
        )
        await uow.commit()


async def create_admin(
    *, email: str, password: str, uow: UnitOfWork, hasher: PasswordHasher
) -> uuid.UUID:
    """An administrator account (verified), or the admin role added to an existing one."""
    _check_password(password, email=email)
    password_hash = await hasher.hash(password)
    async with uow:
        users = IdentityRepository(uow.session)
        user = await users.live_user_by_email(email)
        if user is None:
            user = User(
                id=uuid7(), email=email, password_hash=password_hash, email_verified_at=_now()
            )
            users.add_user(user, roles=("admin",))
            await uow.session.flush()
            uow.publish(UserRegistered(user_id=user.id), aggregate_id=user.id)
        elif "admin" not in await users.roles_of(user.id):
            users.grant_role(user.id, "admin")
            # A role change ends the sessions that carry the old roles.
            await users.revoke_sessions_of(user.id, reason="roles_changed")
        await record(uow, AuditRecord("create_admin", "ok", target_user_id=user.id), ClientInfo())
        await uow.commit()
    return user.id


async def _issue_one_time_token(
    users: IdentityRepository, *, user: User, purpose: str, ttl: dt.timedelta
) -> str:
    """A fresh single-use token for `user`'s current address (older ones are voided)."""
    token = opaque_tokens.new_token()
    await users.issue_one_time_token(
        user_id=user.id,
        purpose=purpose,
        email=user.email,
        token_hash=opaque_tokens.digest(token),
        expires_at=_now() + ttl,
    )
    return token


async def _mail_verification_link(
    uow: UnitOfWork, users: IdentityRepository, *, user: User, settings: IdentitySettings
) -> None:
    token = await _issue_one_time_token(
        users, user=user, purpose=VERIFY_EMAIL, ttl=dt.timedelta(hours=settings.verify_email_ttl_h)
    )
    uow.defer(
        send_mail_job(
            verification_mail(
                to=user.email,
                public_url=settings.public_url,
                token=token,
                ttl_hours=settings.verify_email_ttl_h,
            )
        )
    )


async def verify_email(*, token: str, uow: UnitOfWork, client: ClientInfo) -> None:
    async with uow:
        users = IdentityRepository(uow.session)
        consumed = await users.consume_one_time_token(
            token_hash=opaque_tokens.digest(token), purpose=VERIFY_EMAIL
        )
        # The address must still be the account's: a changed email voids older links.
        if consumed is None or not await users.mark_email_verified(
            user_id=consumed[0], email=consumed[1]
        ):
            raise InvalidOneTimeToken()
        uow.publish(EmailVerified(user_id=consumed[0]), aggregate_id=consumed[0])
        await record(uow, AuditRecord("verify_email", "ok", target_user_id=consumed[0]), client)
        await uow.commit()


async def login(
    *,
    email: str,
    password: str,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    tokens: AccessTokens,
    settings: IdentitySettings,
    client: ClientInfo,
) -> TokenPair:
    """One 401 for unknown account, wrong password, inactive account and a held-back
    (throttled) attempt; all of them cost one Argon2 verification."""
    try:
        normalised = normalise_email(email)
    except InvalidEmail:
        await hasher.verify_nobody(password)
        raise InvalidCredentials() from None
    keys = throttle.keys_for(normalised, client.ip)
    async with uow:
        users = IdentityRepository(uow.session)
        if await throttle.held_back(uow.session, keys):
            await hasher.verify_nobody(password)
            await throttle.record_failure(uow.session, keys)
            await record(uow, AuditRecord("login", "throttled"), client)
            await uow.commit()
            raise InvalidCredentials()
        user = await users.live_user_by_email(normalised)
        if user is None:
            await hasher.verify_nobody(password)
            await throttle.record_failure(uow.session, keys)
            await record(uow, AuditRecord("login", "unknown_account"), client)
            await uow.commit()
            raise InvalidCredentials()
        verification = await hasher.verify(user.password_hash, password)
        if not verification.valid or user.status != "active":
            outcome = "wrong_password" if not verification.valid else f"account_{user.status}"
            await throttle.record_failure(uow.session, keys)
            await record(uow, AuditRecord("login", outcome, target_user_id=user.id), client)
            await uow.commit()
            raise InvalidCredentials()
        if user.email_verified_at is None and not settings.allow_unverified_login:
            # Said only to someone who knows the password: no enumeration here.
            await record(
                uow, AuditRecord("login", "email_unverified", target_user_id=user.id), client
            )
            await uow.commit()
            raise EmailNotVerified(
                "Confirm your email address first (POST /api/v1/auth/resend-verification)."
            )
        if verification.needs_rehash:
            await users.set_password_hash(user.id, await hasher.hash(password))
        await throttle.record_success(uow.session, keys)
        pair = await _open_session(
            users, user=user, tokens=tokens, settings=settings, client=client
        )
        await record(uow, AuditRecord("login", "ok", actor_user_id=user.id), client)
        await uow.commit()
    return pair


async def _open_session(
    users: IdentityRepository,
    *,
    user: User,
    tokens: AccessTokens,
    settings: IdentitySettings,
    client: ClientInfo,
) -> TokenPair:
    now = _now()
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
    roles = await users.roles_of(user.id)
    verified = user.email_verified_at is not None
    access_token, _ = tokens.issue(
        subject=str(user.id), session_id=str(session.id), roles=roles, email_verified=verified
    )
    return TokenPair(access_token, refresh_token, settings.access_ttl_s, session.id, verified)


async def refresh(
    *,
    refresh_token: str,
    uow: UnitOfWork,
    tokens: AccessTokens,
    sealer: Sealer,
    settings: IdentitySettings,
    client: ClientInfo,
) -> TokenPair:
    """Rotate: the presented token is spent and a successor issued.

    A spent token presented again means it was stolen (or the client is broken): the whole
    session is revoked, in the database, before answering 401. The one exception is a retry
    of the latest rotation within `refresh_grace_s` (a lost response, two tabs): it gets the
    successor already issued, so there is never a second lineage. Concurrent refreshes of
    one session are serialised by a row lock on the session; the loser gets 409.
    """
    async with uow:
        users = IdentityRepository(uow.session)
        presented = await users.refresh_token_by_hash(opaque_tokens.digest(refresh_token))
        if presented is None:
            raise InvalidSession()
        try:
            session = await users.lock_session(presented.session_id)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                raise RefreshInProgress() from None
            raise
        await uow.session.refresh(presented)
        now = _now()
        if session is None or session.revoked_at is not None or session.absolute_expires_at <= now:
            raise InvalidSession()
        user = await users.user(session.user_id)
        if user is None or user.status != "active":
            raise InvalidSession()
        verified = user.email_verified_at is not None
        if presented.used_at is not None:
            successor = await _successor_within_grace(
                users, presented, sealer=sealer, grace_s=settings.refresh_grace_s, now=now
            )
            if successor is None:
                await _revoke_for_reuse(
                    uow, users, session=session, user=user, settings=settings, client=client
                )
                raise InvalidSession()
            access_token, _ = tokens.issue(
                subject=str(user.id),
                session_id=str(session.id),
                roles=await users.roles_of(user.id),
                email_verified=verified,
            )
            await record(uow, AuditRecord("refresh", "grace_retry", actor_user_id=user.id), client)
            await uow.commit()
            return TokenPair(access_token, successor, settings.access_ttl_s, session.id, verified)
        if presented.expires_at <= now:
            raise InvalidSession()
        successor = opaque_tokens.new_token()
        successor_id = uuid7()
        presented.used_at = now
        presented.replaced_by = successor_id
        presented.successor_sealed = sealer.seal(
            successor.encode(), associated_data=presented.id.bytes
        )
        users.add_refresh_token(
            RefreshToken(
                id=successor_id,
                session_id=session.id,
                parent_id=presented.id,
                token_hash=opaque_tokens.digest(successor),
                expires_at=min(
                    now + dt.timedelta(days=settings.refresh_idle_days), session.absolute_expires_at
                ),
            )
        )
        if presented.parent_id is not None:
            # A newer generation exists: the grandparent's grace is over for good.
            await users.forget_sealed_successor(presented.parent_id)
        session.last_used_at = now
        roles = await users.roles_of(user.id)
        access_token, _ = tokens.issue(
            subject=str(user.id), session_id=str(session.id), roles=roles, email_verified=verified
        )
        await record(uow, AuditRecord("refresh", "ok", actor_user_id=user.id), client)
        await uow.commit()
    return TokenPair(access_token, successor, settings.access_ttl_s, session.id, verified)


async def _successor_within_grace(
    users: IdentityRepository,
    presented: RefreshToken,
    *,
    sealer: Sealer,
    grace_s: int,
    now: dt.datetime,
) -> str | None:
    """The already issued successor, if `presented` is the immediate predecessor of the
    session's live token and was spent less than `grace_s` ago."""
    if (
        presented.used_at is None
        or presented.replaced_by is None
        or presented.successor_sealed is None
        or (now - presented.used_at).total_seconds() > grace_s
    ):
        return None
    successor = await users.refresh_token(presented.replaced_by)
    if successor is None or successor.used_at is not None:
        return None  # two generations old: that is reuse
    opened = sealer.open(presented.successor_sealed, associated_data=presented.id.bytes)
    return opened.decode() if opened is not None else None


async def _revoke_for_reuse(
    uow: UnitOfWork,
    users: IdentityRepository,
    *,
    session: Session,
    user: User,
    settings: IdentitySettings,
    client: ClientInfo,
) -> None:
    await users.revoke_session(session.id, reason="refresh_token_reuse")
    uow.defer(
        send_mail_job(
            session_ended_for_reuse_mail(
                to=user.email, public_url=settings.public_url, user_agent=session.user_agent
            )
        )
    )
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
    await uow.commit()


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


async def forgot_password(
    *, email: str, uow: UnitOfWork, settings: IdentitySettings, client: ClientInfo
) -> None:
    """Mail a reset link if the address has an active account; the answer never says."""
    try:
        normalised = normalise_email(email)
    except InvalidEmail:
        return
    async with uow:
        users = IdentityRepository(uow.session)
        user = await users.live_user_by_email(normalised)
        if user is None or user.status != "active":
            await record(uow, AuditRecord("password_forgot", "no_account"), client)
            await uow.commit()
            return
        token = await _issue_one_time_token(
            users,
            user=user,
            purpose=RESET_PASSWORD,
            ttl=dt.timedelta(minutes=settings.reset_password_ttl_min),
        )
        uow.defer(
            send_mail_job(
                reset_password_mail(
                    to=user.email,
                    public_url=settings.public_url,
                    token=token,
                    ttl_minutes=settings.reset_password_ttl_min,
                )
            )
        )
        await record(uow, AuditRecord("password_forgot", "mailed", target_user_id=user.id), client)
        await uow.commit()


async def reset_password(
    *,
    token: str,
    new_password: str,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    settings: IdentitySettings,
    client: ClientInfo,
) -> None:
    """Set a new password from a reset link: every session ends, no automatic sign-in."""
    password_hash = await hasher.hash(new_password)
    async with uow:
        users = IdentityRepository(uow.session)
        consumed = await users.consume_one_time_token(
            token_hash=opaque_tokens.digest(token), purpose=RESET_PASSWORD
        )
        user = await users.user(consumed[0]) if consumed is not None else None
        if user is None or consumed is None or user.email != consumed[1]:
            raise InvalidOneTimeToken()
        _check_password(new_password, email=user.email)
        await _replace_password(
            uow, users, user=user, password_hash=password_hash, keep_session=None, settings=settings
        )
        await record(uow, AuditRecord("password_reset", "ok", target_user_id=user.id), client)
        await uow.commit()


async def change_password(
    *,
    principal: Principal,
    current_password: str,
    new_password: str,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    settings: IdentitySettings,
    client: ClientInfo,
) -> None:
    """Needs the current password; signs out every other session and mails the owner."""
    async with uow:
        users = IdentityRepository(uow.session)
        user = await users.user(principal.user_id)
        if user is None:
            raise InvalidSession()
        await require_current_password(
            uow,
            hasher,
            user=user,
            password=current_password,
            action="password_change",
            pointer="/current_password",
            client=client,
        )
        _check_password(new_password, email=user.email)
        await _replace_password(
            uow,
            users,
            user=user,
            password_hash=await hasher.hash(new_password),
            keep_session=principal.session_id,
            settings=settings,
        )
        await record(uow, AuditRecord("password_change", "ok", actor_user_id=user.id), client)
        await uow.commit()


async def require_current_password(
    uow: UnitOfWork,
    hasher: PasswordHasher,
    *,
    user: User,
    password: str,
    action: str,
    pointer: str,
    client: ClientInfo,
) -> None:
    """Sensitive changes re-check the password: a stolen access token alone is not enough.
    A wrong one is audited (committed) and answered 422 on the field."""
    if (await hasher.verify(user.password_hash, password)).valid:
        return
    await record(uow, AuditRecord(action, "wrong_current", actor_user_id=user.id), client)
    await uow.commit()
    raise WrongCurrentPassword(
        "The current password is not right.",
        errors=[{"pointer": pointer, "detail": "Not your current password.", "code": "wrong"}],
    )


def _check_password(password: str, *, email: str) -> None:
    problems = password_problems(password, email=email)
    if problems:
        raise WeakPassword(
            "Choose another password.",
            errors=[
                {"pointer": "/new_password", "detail": p.detail, "code": p.code} for p in problems
            ],
        )


async def _replace_password(
    uow: UnitOfWork,
    users: IdentityRepository,
    *,
    user: User,
    password_hash: str,
    keep_session: uuid.UUID | None,
    settings: IdentitySettings,
) -> None:
    await users.set_password_hash(user.id, password_hash)
    await users.revoke_sessions_of(user.id, reason="password_changed", keep=keep_session)
    await users.void_one_time_tokens(user.id)
    uow.defer(send_mail_job(password_changed_mail(to=user.email, public_url=settings.public_url)))


async def authenticate(
    *, access_token: str, tokens: AccessTokens, database: Database, principals: PrincipalCache
) -> Principal:
    """The caller of a request: a valid token whose session is live and user active.

    The session is checked on every request (in PostgreSQL, or in the Redis cache that
    revocations invalidate), so logout and revocation end a token at once.
    """
    try:
        claims = tokens.verify(access_token)
        user_id, session_id = uuid.UUID(claims.subject), uuid.UUID(claims.session_id)
    except (InvalidToken, ValueError):
        raise InvalidSession() from None
    cached, generation = await principals.lookup(session_id=session_id, user_id=user_id)
    if cached is not None:
        return cached
    # The primary, not a replica: a replica a few hundred ms behind would let a revoked
    # session through.
    async with database.session() as db:
        users = IdentityRepository(db)
        session = await users.session(session_id)
        if (
            session is None
            or session.user_id != user_id
            or session.revoked_at is not None
            or session.absolute_expires_at <= _now()
        ):
            raise InvalidSession()
        user = await users.user(user_id)
        if user is None or user.status != "active":
            raise InvalidSession()
        roles, permissions = await users.grants_of(user_id)
    principal = Principal(
        user_id=user_id, session_id=session_id, roles=roles, permissions=permissions
    )
    if generation is not None:
        await principals.store(
            principal, generation=generation, expires_at=session.absolute_expires_at
        )
    return principal
