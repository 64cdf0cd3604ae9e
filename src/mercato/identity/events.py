"""Events the identity context publishes (contracts, version 1)."""

from __future__ import annotations

import uuid

from mercato.platform.events.contracts import EventPayload


class UserRegistered(EventPayload):
    """A new account was created (its email is not verified yet)."""

    name = "identity.user.registered"
    version = 1
    aggregate_type = "identity.user"

    user_id: uuid.UUID


class EmailVerified(EventPayload):
    """The owner of an account proved they receive mail at its address."""

    name = "identity.user.email_verified"
    version = 1
    aggregate_type = "identity.user"

    user_id: uuid.UUID


class AccountChanged(EventPayload):
    """An administrator changed an account's status or roles (its sessions were ended)."""

    name = "identity.user.account_changed"
    version = 1
    aggregate_type = "identity.user"

    user_id: uuid.UUID
    status: str
    roles: list[str]


class AccountDeleted(EventPayload):
    """The owner deleted their account (soft delete: personal data is kept only as the
    retention policy allows; the email address is free again)."""

    name = "identity.user.deleted"
    version = 1
    aggregate_type = "identity.user"

    user_id: uuid.UUID


class RightsChanged(EventPayload):
    """Sessions of the user were revoked or their roles changed (logout, password change
    or reset, disable, role change, token reuse, deletion): whatever a process cached about
    the user's access is stale. Published for every such commit (`changes.rights_events`)."""

    name = "identity.user.rights_changed"
    version = 1
    aggregate_type = "identity.user"

    user_id: uuid.UUID


CONTRACTS: tuple[type[EventPayload], ...] = (
    UserRegistered,
    EmailVerified,
    AccountChanged,
    AccountDeleted,
    RightsChanged,
)
