"""The account owner's own data: profile changes and deleting the account."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog

from mercato.identity.audit import AuditRecord, ClientInfo, record
from mercato.identity.errors import InvalidSession, LastAdministrator
from mercato.identity.events import AccountDeleted
from mercato.identity.models import User
from mercato.identity.passwords import require_current_password
from mercato.identity.repository import ADMIN_ROLE, IdentityRepository
from mercato.platform.auth import Principal
from mercato.platform.clock import utc_now
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import Unavailable
from mercato.platform.security.fields import FieldDecryptionError, FieldKeyRing, FieldLocation
from mercato.platform.security.hashing import PasswordHasher

logger = structlog.get_logger(__name__)


def phone_location(user_id: uuid.UUID) -> FieldLocation:
    return FieldLocation("identity_user", "phone_encrypted", user_id)


def phone_of(user: User, field_keys: FieldKeyRing) -> str | None:
    """The decrypted phone number; fails closed (503) when it cannot be read."""
    if user.phone_encrypted is None:
        return None
    try:
        return field_keys.decrypt(user.phone_encrypted, location=phone_location(user.id))
    except FieldDecryptionError as error:
        # An operator problem (a key missing from the ring, or a tampered row): say so in
        # the log, and never answer with a blank or a ciphertext instead.
        logger.error("field_decryption_failed", field="identity_user.phone", reason=str(error))
        raise Unavailable("Part of this account cannot be read right now.") from None


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """The fields the owner sent (a field sent as null clears it)."""

    sent: frozenset[str]
    name: str | None = None
    phone: str | None = None


async def update_profile(
    *,
    principal: Principal,
    change: ProfileChange,
    expected: ExpectedVersion,
    uow: UnitOfWork,
    field_keys: FieldKeyRing,
) -> User:
    async with uow:
        user = await IdentityRepository(uow.session).user_for_update(principal.user_id)
        if user is None:
            raise InvalidSession()
        expected.check(user.version)
        if "name" in change.sent:
            user.name = change.name
        if "phone" in change.sent:
            user.phone_encrypted = (
                field_keys.encrypt(change.phone, location=phone_location(user.id))
                if change.phone is not None
                else None
            )
        if change.sent:
            user.version += 1
            user.updated_at = utc_now()
        await uow.commit()
    return user


async def delete_account(
    *,
    principal: Principal,
    password: str,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    client: ClientInfo,
) -> None:
    """Soft delete: the address is free again, every session ends, personal fields are
    cleared; the row stays (deleted) for the audit trail."""
    async with uow:
        users = IdentityRepository(uow.session)
        await users.lock_admin_set()
        user = await users.user_for_update(principal.user_id)
        if user is None:
            raise InvalidSession()
        await require_current_password(
            uow,
            hasher,
            user=user,
            password=password,
            action="account_delete",
            pointer="/password",
            client=client,
        )
        if (
            ADMIN_ROLE in await users.roles_of(user.id)
            and await users.count_active_admins(excluding=user.id) == 0
        ):
            raise LastAdministrator("You are the last administrator; appoint another first.")
        now = utc_now()
        user.status = "deleted"
        user.deleted_at = now
        user.updated_at = now
        user.name = None
        user.phone_encrypted = None
        user.version += 1
        await uow.session.flush()
        await users.revoke_sessions_of(user.id, reason="account_deleted")
        await users.void_one_time_tokens(user.id)
        await record(uow, AuditRecord("account_delete", "ok", actor_user_id=user.id), client)
        uow.publish(AccountDeleted(user_id=user.id), aggregate_id=user.id)
        await uow.commit()
