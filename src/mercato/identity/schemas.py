"""Request and response bodies of the identity API (never ORM objects)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mercato.identity.addresses import InvalidEmail, normalise_email
from mercato.identity.administration import AccountChange
from mercato.identity.known_devices import MAX_TOKEN_LENGTH as MAX_DEVICE_TOKEN_LENGTH
from mercato.identity.models import AuditEntry, User
from mercato.identity.profile import ProfileChange
from mercato.identity.search import AuditCriteria, UserCriteria
from mercato.identity.sessions import TokenPair
from mercato.identity.sign_in import SignedIn
from mercato.platform.validation import SafeLine, SafeStr, Timestamp, Version

# Hashing cost grows with input: anything longer than this is refused before hashing.
MAX_PASSWORD_INPUT = 1024
Role = Annotated[SafeLine, Field(max_length=50)]


class _Input(BaseModel):
    # Unknown fields (`role`, `is_superuser`, `email_verified`, `id`...) are refused: 422.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterIn(_Input):
    email: SafeLine = Field(max_length=320, examples=["ada@example.com"])
    password: SafeStr = Field(min_length=1, max_length=MAX_PASSWORD_INPUT)
    name: SafeLine | None = Field(default=None, max_length=200)

    @field_validator("email")
    @classmethod
    def _normalise(cls, value: str) -> str:
        try:
            return normalise_email(value)
        except InvalidEmail as error:
            raise ValueError(str(error)) from None


class AcceptedOut(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str


class VerifyEmailIn(_Input):
    token: SafeLine = Field(min_length=1, max_length=200)


class EmailIn(_Input):
    """An address to mail something to (resend verification, forgot password)."""

    email: SafeLine = Field(max_length=320)


class ResetPasswordIn(_Input):
    token: SafeLine = Field(min_length=1, max_length=200)
    new_password: SafeStr = Field(min_length=1, max_length=MAX_PASSWORD_INPUT)


class ChangePasswordIn(_Input):
    current_password: SafeStr = Field(min_length=1, max_length=MAX_PASSWORD_INPUT)
    new_password: SafeStr = Field(min_length=1, max_length=MAX_PASSWORD_INPUT)


class LoginIn(_Input):
    email: SafeLine = Field(max_length=320)
    password: SafeStr = Field(min_length=1, max_length=MAX_PASSWORD_INPUT)
    cookie: bool = Field(
        default=False,
        description="Also set the refresh token as a `__Host-` HttpOnly, Secure,"
        " SameSite=Strict cookie (for browsers); /auth/refresh then reads it.",
    )
    device_token: str | None = Field(
        default=None,
        max_length=MAX_DEVICE_TOKEN_LENGTH,
        description="The `device_token` of an earlier sign-in (or of a mailed sign-in link):"
        " failed sign-ins from elsewhere then never hold this client back. Browsers send"
        " the `__Host-mercato_device` cookie instead.",
    )


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int
    refresh_token: str
    email_verified: bool

    @classmethod
    def from_pair(cls, pair: TokenPair) -> TokenOut:
        return cls(
            access_token=pair.access_token,
            expires_in=pair.expires_in,
            refresh_token=pair.refresh_token,
            email_verified=pair.email_verified,
        )


class LoginOut(TokenOut):
    device_token: str = Field(
        description="Keep it and send it with later sign-ins (also set as the"
        " `__Host-mercato_device` cookie): it marks this client as one that signed in"
        " before. It signs no one in by itself."
    )

    @classmethod
    def from_signed_in(cls, signed_in: SignedIn) -> LoginOut:
        pair = signed_in.tokens
        return cls(
            access_token=pair.access_token,
            expires_in=pair.expires_in,
            refresh_token=pair.refresh_token,
            email_verified=pair.email_verified,
            device_token=signed_in.device_token,
        )


class RefreshIn(_Input):
    refresh_token: SafeLine = Field(min_length=1, max_length=200)


class LogoutIn(_Input):
    scope: Literal["local", "others", "global"] = "local"


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    email_verified: bool
    name: str | None
    phone: str | None
    roles: list[str]
    created_at: dt.datetime
    version: int


_PHONE_PUNCTUATION = str.maketrans("", "", " -.()")


class ProfilePatchIn(_Input):
    """Only the fields sent change; null clears one. Send `version` or If-Match."""

    name: SafeLine | None = Field(default=None, min_length=1, max_length=200)
    phone: SafeLine | None = Field(
        default=None,
        max_length=32,
        description="E.164 (+ country code, up to 15 digits); spaces, dots, dashes and"
        " parentheses are ignored. Stored encrypted.",
        examples=["+44 20 7946 0958"],
    )
    version: Version | None = None

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        compact = value.translate(_PHONE_PUNCTUATION)
        digits = compact.removeprefix("+")
        if not compact.startswith("+") or not digits.isascii() or not digits.isdigit():
            raise ValueError("a phone number starts with + and the country code")
        if not 7 <= len(digits) <= 15 or digits.startswith("0"):
            raise ValueError("not a valid international (E.164) phone number")
        return compact

    def change(self) -> ProfileChange:
        return ProfileChange(
            sent=frozenset(self.model_fields_set - {"version"}), name=self.name, phone=self.phone
        )


class DeleteAccountIn(_Input):
    password: SafeStr = Field(min_length=1, max_length=MAX_PASSWORD_INPUT)


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: dt.datetime
    last_used_at: dt.datetime
    user_agent: str | None
    ip: str | None
    current: bool


class AdminUserOut(BaseModel):
    id: uuid.UUID
    email: str
    email_verified: bool
    name: str | None
    status: str
    roles: list[str]
    created_at: dt.datetime
    version: int

    @classmethod
    def of(cls, user: User, roles: Sequence[str]) -> AdminUserOut:
        return cls(
            id=user.id,
            email=user.email,
            email_verified=user.email_verified_at is not None,
            name=user.name,
            status=user.status,
            roles=list(roles),
            created_at=user.created_at,
            version=user.version,
        )


class AdminUserPatchIn(_Input):
    """Only status and roles; send the version you read (or If-Match with its ETag)."""

    status: Literal["active", "disabled"] | None = None
    roles: list[Role] | None = Field(default=None, max_length=10)
    version: Version | None = None

    def change(self) -> AccountChange:
        return AccountChange(
            status=self.status, roles=frozenset(self.roles) if self.roles is not None else None
        )


class AuditEntryOut(BaseModel):
    id: int
    occurred_at: dt.datetime
    action: str
    outcome: str
    actor_user_id: uuid.UUID | None
    target_user_id: uuid.UUID | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            occurred_at=entry.occurred_at,
            action=entry.action,
            outcome=entry.outcome,
            actor_user_id=entry.actor_user_id,
            target_user_id=entry.target_user_id,
            ip=str(entry.ip) if entry.ip is not None else None,
            user_agent=entry.user_agent,
            request_id=entry.request_id,
            details=entry.details,
        )


class AuditSearchParams(_Input):
    """Query parameters of the audit log listing (newest first); others are a 422."""

    actor: uuid.UUID | None = None
    target: uuid.UUID | None = None
    action: SafeLine | None = Field(default=None, max_length=50, pattern=r"^[a-z_]+$")
    occurred_after: Timestamp | None = None
    occurred_before: Timestamp | None = None
    limit: int = Field(default=50, ge=1, le=100)
    cursor: SafeLine | None = Field(default=None, max_length=1024)

    def criteria(self) -> AuditCriteria:
        return AuditCriteria(
            actor=self.actor,
            target=self.target,
            action=self.action,
            occurred_after=self.occurred_after,
            occurred_before=self.occurred_before,
        )


class UserSearchParams(_Input):
    """Query parameters of the admin user search; any other parameter is a 422."""

    q: SafeLine | None = Field(
        default=None,
        min_length=3,
        max_length=100,
        description="Substring of the email or the name (3 characters at least: shorter"
        " fragments cannot use the trigram index).",
    )
    role: SafeLine | None = Field(default=None, max_length=50, pattern=r"^[a-z_]+$")
    status: Literal["active", "disabled", "deleted"] | None = None
    verified: bool | None = None
    created_after: Timestamp | None = None
    created_before: Timestamp | None = None
    sort: SafeLine = Field(
        default="-created_at",
        max_length=100,
        description="Comma-separated among created_at, email, name; '-' for descending.",
    )
    limit: int = Field(default=50, ge=1, le=100)
    cursor: SafeLine | None = Field(default=None, max_length=1024)

    def criteria(self) -> UserCriteria:
        return UserCriteria(
            q=self.q,
            role=self.role,
            status=self.status,
            verified=self.verified,
            created_after=self.created_after,
            created_before=self.created_before,
        )
