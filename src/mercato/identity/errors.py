"""Identity's domain errors (each maps to one problem type)."""

from __future__ import annotations

from mercato.platform import errors


class WeakPassword(errors.Invalid):
    code = "weak-password"
    title = "The password is not acceptable"


class InvalidCredentials(errors.Unauthenticated):
    """One answer for unknown account, wrong password and disabled account."""

    code = "invalid-credentials"
    title = "Invalid email or password"


class InvalidSession(errors.Unauthenticated):
    code = "invalid-session"
    title = "The session is not valid; sign in again"


class RefreshInProgress(errors.Conflict):
    code = "refresh-in-progress"
    title = "This session is being refreshed by another request; retry"


class InvalidOneTimeToken(errors.BadRequest):
    code = "invalid-token"
    title = "The link is invalid or has expired"


class WrongCurrentPassword(errors.Invalid):
    code = "wrong-current-password"
    title = "The current password is not right"


class LastAdministrator(errors.Conflict):
    code = "last-administrator"
    title = "The last administrator cannot lose that role"


class RoleAboveYours(errors.PermissionDenied):
    code = "role-above-yours"
    title = "That role is above your own"


class UnknownRole(errors.Invalid):
    code = "unknown-role"
    title = "No such role"


class EmailNotVerified(errors.PermissionDenied):
    code = "email-not-verified"
    title = "Confirm your email address first"


class EmailTaken(errors.Conflict):
    """A live account has this address (registration answers the same either way: this
    never reaches a client)."""

    code = "email-taken"
    title = "The address is taken"
