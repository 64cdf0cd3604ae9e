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


CONTRACTS: tuple[type[EventPayload], ...] = (UserRegistered, EmailVerified)
