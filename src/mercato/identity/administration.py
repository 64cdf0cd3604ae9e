"""Administrators changing accounts: status and roles, within the limits of their own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mercato.identity.audit import AuditRecord, ClientInfo, record
from mercato.identity.errors import LastAdministrator, RoleAboveYours, UnknownRole
from mercato.identity.events import AccountChanged
from mercato.identity.models import User
from mercato.identity.repository import ADMIN_ROLE, IdentityRepository
from mercato.platform.auth import Principal
from mercato.platform.clock import utc_now
from mercato.platform.concurrency import ExpectedVersion
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import NotFound


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What an administrator asks to change; None leaves a field as it is."""

    status: str | None = None
    roles: frozenset[str] | None = None


async def change_account(
    *,
    actor: Principal,
    user_id: uuid.UUID,
    change: AccountChange,
    expected: ExpectedVersion,
    uow: UnitOfWork,
    client: ClientInfo,
) -> tuple[User, list[str]]:
    """Apply `change` to an account; its sessions end when its roles or status change.

    Nobody grants, removes or touches a role ranked above their own, and the last active
    administrator cannot be demoted or disabled (two administrators demoting each other at
    once are serialised by a lock, so one of them stays).
    """
    async with uow:
        users = IdentityRepository(uow.session)
        await users.lock_admin_set()
        user = await users.user_for_update(user_id)
        if user is None:
            raise NotFound("There is no such user.")
        expected.check(user.version)
        ranks = await users.role_ranks()
        if change.roles is not None and not change.roles <= ranks.keys():
            unknown = ", ".join(sorted(change.roles - ranks.keys()))
            raise UnknownRole(
                f"No such role: {unknown}.",
                errors=[{"in": "body", "pointer": "/roles", "detail": "unknown role"}],
            )
        own_rank = max((ranks.get(role, 0) for role in actor.roles), default=0)
        current = set(await users.roles_of(user.id))
        wanted = set(change.roles) if change.roles is not None else current
        if any(ranks.get(role, 0) > own_rank for role in current | wanted):
            raise RoleAboveYours("You cannot change an account or grant a role above your own.")
        status = change.status or user.status
        if (
            ADMIN_ROLE in current
            and user.status == "active"
            and (ADMIN_ROLE not in wanted or status != "active")
            and await users.count_active_admins(excluding=user.id) == 0
        ):
            raise LastAdministrator("This is the last active administrator; appoint another.")
        if wanted == current and status == user.status:
            await uow.commit()
            return user, sorted(current)

        await users.replace_roles(user.id, add=wanted - current, remove=current - wanted)
        previous_status = user.status
        user.status = status
        user.version += 1
        user.updated_at = utc_now()
        # Old access tokens carry old rights: end the sessions, so the change holds at once.
        reason = "disabled" if status != "active" else "roles_changed"
        await users.revoke_sessions_of(user.id, reason=reason)
        await record(
            uow,
            AuditRecord(
                "admin_change_user",
                "ok",
                actor_user_id=actor.user_id,
                target_user_id=user.id,
                details={
                    "status": [previous_status, status],
                    "roles_added": sorted(wanted - current),
                    "roles_removed": sorted(current - wanted),
                },
            ),
            client,
        )
        uow.publish(
            AccountChanged(user_id=user.id, status=status, roles=sorted(wanted)),
            aggregate_id=user.id,
        )
        await uow.commit()
    return user, sorted(wanted)
