"""Creating accounts: register, verify the address, resend the link, create an admin.

Each use case is one unit of work: one transaction, one commit.
"""

from __future__ import annotations

import datetime as dt
import uuid

import structlog

from mercato.identity import one_time_links, opaque_tokens
from mercato.identity.addresses import InvalidEmail, normalise_email
from mercato.identity.audit import AuditRecord, ClientInfo, record
from mercato.identity.errors import EmailTaken, InvalidOneTimeToken
from mercato.identity.events import EmailVerified, UserRegistered
from mercato.identity.mail_templates import already_registered_mail, verification_mail
from mercato.identity.models import User
from mercato.identity.passwords import check_password
from mercato.identity.repository import ADMIN_ROLE, IdentityRepository
from mercato.identity.services import IdentityServices
from mercato.platform.clock import utc_now
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.ids import uuid7
from mercato.platform.jobs.tasks import send_mail_job
from mercato.platform.security.hashing import PasswordHasher

logger = structlog.get_logger(__name__)

DEFAULT_ROLE = "customer"


async def register(
    *,
    email: str,
    password: str,
    name: str | None,
    identity: IdentityServices,
    uow: UnitOfWork,
    client: ClientInfo,
) -> None:
    """Create an account and mail a verification link; answer the same for a taken email.

    The owner of an address that already has an account gets a "someone tried to
    register" mail instead, and the caller cannot tell the difference (no enumeration):
    the password is hashed either way, so the time taken is the same too.
    """
    check_password(password, email=email, pointer="/password")
    password_hash = await identity.hasher.hash(password)
    try:
        async with uow:
            users = IdentityRepository(uow.session)
            existing = await users.live_user_by_email(email)
            if existing is not None:
                uow.defer(send_mail_job(already_registered_mail(to=email, links=identity.links)))
                await record(
                    uow,
                    AuditRecord("register", "existing_email", target_user_id=existing.id),
                    client,
                )
                await uow.commit()
                return
            user = User(id=uuid7(), email=email, password_hash=password_hash, name=name)
            await users.add_user(user, roles=(DEFAULT_ROLE,))
            await mail_verification_link(uow, users, user=user, identity=identity)
            uow.publish(UserRegistered(user_id=user.id), aggregate_id=user.id)
            await record(uow, AuditRecord("register", "created", target_user_id=user.id), client)
            await uow.commit()
    except EmailTaken:
        # Two registrations of one address raced; the other one won. Same answer.
        logger.info("register_race_lost")


async def resend_verification(
    *, email: str, identity: IdentityServices, uow: UnitOfWork, client: ClientInfo
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
        await mail_verification_link(uow, users, user=user, identity=identity)
        await record(
            uow, AuditRecord("resend_verification", "mailed", target_user_id=user.id), client
        )
        await uow.commit()


async def mail_verification_link(
    uow: UnitOfWork, users: IdentityRepository, *, user: User, identity: IdentityServices
) -> None:
    ttl_h = identity.settings.verify_email_ttl_h
    token = await one_time_links.issue(
        users, user=user, purpose=one_time_links.VERIFY_EMAIL, ttl=dt.timedelta(hours=ttl_h)
    )
    uow.defer(
        send_mail_job(
            verification_mail(
                to=user.email,
                links=identity.links,
                token=token,
                ttl_hours=ttl_h,
            )
        )
    )


async def verify_email(*, token: str, uow: UnitOfWork, client: ClientInfo) -> None:
    """Consume a verification link; the address must still be the account's."""
    async with uow:
        users = IdentityRepository(uow.session)
        consumed = await users.consume_one_time_token(
            token_hash=opaque_tokens.digest(token), purpose=one_time_links.VERIFY_EMAIL
        )
        # A changed email voids older links.
        if consumed is None or not await users.mark_email_verified(
            user_id=consumed[0], email=consumed[1]
        ):
            raise InvalidOneTimeToken()
        uow.publish(EmailVerified(user_id=consumed[0]), aggregate_id=consumed[0])
        await record(uow, AuditRecord("verify_email", "ok", target_user_id=consumed[0]), client)
        await uow.commit()


async def create_admin(
    *, email: str, password: str, uow: UnitOfWork, hasher: PasswordHasher
) -> uuid.UUID:
    """An administrator account (verified), or the admin role added to an existing one."""
    check_password(password, email=email)
    password_hash = await hasher.hash(password)
    async with uow:
        users = IdentityRepository(uow.session)
        user = await users.live_user_by_email(email)
        if user is None:
            user = User(
                id=uuid7(), email=email, password_hash=password_hash, email_verified_at=utc_now()
            )
            await users.add_user(user, roles=(ADMIN_ROLE,))
            uow.publish(UserRegistered(user_id=user.id), aggregate_id=user.id)
        elif ADMIN_ROLE not in await users.roles_of(user.id):
            users.grant_role(user.id, ADMIN_ROLE)
            # A role change ends the sessions that carry the old roles.
            await users.revoke_sessions_of(user.id, reason="roles_changed")
        await record(uow, AuditRecord("create_admin", "ok", target_user_id=user.id), ClientInfo())
        await uow.commit()
    return user.id
