"""Request and response bodies of the identity API (never ORM objects)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mercato.identity.emails import InvalidEmail, normalise_email
from mercato.identity.service import TokenPair

# Hashing cost grows with input: anything longer than this is refused before hashing.
MAX_PASSWORD_INPUT = 1024


class _Input(BaseModel):
    # Unknown fields (`role`, `is_superuser`, `email_verified`, `id`...) are refused: 422.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterIn(_Input):
    email: str = Field(max_length=320, examples=["ada@example.com"])
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_INPUT)
    name: str | None = Field(default=None, max_length=200)

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
    token: str = Field(min_length=1, max_length=200)


class EmailIn(_Input):
    """An address to mail something to (resend verification, forgot password)."""

    email: str = Field(max_length=320)


class ResetPasswordIn(_Input):
    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=MAX_PASSWORD_INPUT)


class ChangePasswordIn(_Input):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_INPUT)
    new_password: str = Field(min_length=1, max_length=MAX_PASSWORD_INPUT)


class LoginIn(_Input):
    email: str = Field(max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_INPUT)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int
    refresh_token: str

    @classmethod
    def from_pair(cls, pair: TokenPair) -> TokenOut:
        return cls(
            access_token=pair.access_token,
            expires_in=pair.expires_in,
            refresh_token=pair.refresh_token,
        )


class RefreshIn(_Input):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutIn(_Input):
    scope: Literal["local", "others", "global"] = "local"


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    email_verified: bool
    name: str | None
    roles: list[str]
    created_at: dt.datetime


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
