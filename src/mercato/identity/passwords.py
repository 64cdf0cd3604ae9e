"""Passwords: forgot (mail a reset link), reset from the link, change (knowing the current
one); and the refusal of weak ones (`password_policy` says which)."""

from __future__ import annotations

import datetime as dt
import uuid

from mercato.identity import one_time_links, opaque_tokens, throttle
from mercato.identity.addresses import InvalidEmail, normalise_email
from mercato.identity.audit import AuditRecord, ClientInfo, record
from mercato.identity.errors import (
    InvalidOneTimeToken,
    InvalidSession,
    WeakPassword,
    WrongCurrentPassword,
)
from mercato.identity.mail_templates import password_changed_mail, reset_password_mail
from mercato.identity.models import User
from mercato.identity.password_policy import password_problems
from mercato.identity.repository import IdentityRepository
from mercato.identity.services import IdentityServices
from mercato.platform.auth import Principal
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.jobs.tasks import send_mail_job
from mercato.platform.security.hashing import PasswordHasher


def check_password(password: str, *, email: str, pointer: str = "/new_password") -> None:
    """Refuse a weak password (422, with what is wrong under `pointer`)."""
    problems = password_problems(password, email=email)
    if problems:
        raise WeakPassword(
            "Choose another password.",
            errors=[{"pointer": pointer, "detail": p.detail, "code": p.code} for p in problems],
        )


async def forgot_password(
    *, email: str, identity: IdentityServices, uow: UnitOfWork, client: ClientInfo
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
        ttl_min = identity.settings.reset_password_ttl_min
        token = await one_time_links.issue(
            users,
            user=user,
            purpose=one_time_links.RESET_PASSWORD,
            ttl=dt.timedelta(minutes=ttl_min),
        )
        uow.defer(
            send_mail_job(
                reset_password_mail(
                    to=user.email,
                    links=identity.links,
                    token=token,
                    ttl_minutes=ttl_min,
                )
            )
        )
        await record(uow, AuditRecord("password_forgot", "mailed", target_user_id=user.id), client)
        await uow.commit()


async def reset_password(
    *,
    token: str,
    new_password: str,
    identity: IdentityServices,
    uow: UnitOfWork,
    client: ClientInfo,
) -> None:
    """Set a new password from a reset link: every session ends, no automatic sign-in."""
    password_hash = await identity.hasher.hash(new_password)
    async with uow:
        users = IdentityRepository(uow.session)
        consumed = await users.consume_one_time_token(
            token_hash=opaque_tokens.digest(token), purpose=one_time_links.RESET_PASSWORD
        )
        user = await users.user(consumed[0]) if consumed is not None else None
        if user is None or consumed is None or user.email != consumed[1]:
            raise InvalidOneTimeToken()
        check_password(new_password, email=user.email)
        await _replace_password(
            uow, users, user=user, password_hash=password_hash, keep_session=None, identity=identity
        )
        await record(uow, AuditRecord("password_reset", "ok", target_user_id=user.id), client)
        await uow.commit()


async def change_password(
    *,
    principal: Principal,
    current_password: str,
    new_password: str,
    identity: IdentityServices,
    uow: UnitOfWork,
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
            identity.hasher,
            user=user,
            password=current_password,
            action="password_change",
            pointer="/current_password",
            client=client,
        )
        check_password(new_password, email=user.email)
        await _replace_password(
            uow,
            users,
            user=user,
            password_hash=await identity.hasher.hash(new_password),
            keep_session=principal.session_id,
            identity=identity,
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


async def _replace_password(
    uow: UnitOfWork,
    users: IdentityRepository,
    *,
    user: User,
    password_hash: str,
    keep_session: uuid.UUID | None,
    identity: IdentityServices,
) -> None:
    await users.set_password_hash(user.id, password_hash)
    await users.revoke_sessions_of(user.id, reason="password_changed", keep=keep_session)
    await users.void_one_time_tokens(user.id)
    # The owner proved themselves (the link, or the current password): failed sign-ins
    # from anywhere are forgotten, the account is held back no more.
    await throttle.clear_account(uow.session, user.email)
    uow.defer(send_mail_job(password_changed_mail(to=user.email, links=identity.links)))
