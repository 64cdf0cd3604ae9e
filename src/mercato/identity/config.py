"""Identity's settings (`IDENTITY_*`): tokens, sessions and the links put in identity mails."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from mercato.platform.config import checked_url, section_config


class IdentitySettings(BaseSettings):
    model_config = section_config("IDENTITY_")

    # The API's address as users reach it; links in mails are built from it, never from
    # the request's Host header. Unset: http://MERCATO_HOST:MERCATO_PORT (a wildcard bind
    # reads as 127.0.0.1), so `mercato run --port 9000` mails working links.
    public_url: str | None = None
    # Where the pages that finish a mail's step live: `/verify-email?token=…`,
    # `/reset-password?token=…`, `/forgot-password`, `/login`. Unset: the API's own
    # development pages (`<public url>/dev/…`) in development, else the public URL.
    frontend_url: str | None = None
    jwt_issuer: str = "mercato"
    jwt_audience: str = "mercato-api"
    access_ttl_s: int = Field(default=600, ge=300, le=900)
    refresh_idle_days: int = Field(default=7, ge=1, le=30)
    refresh_absolute_days: int = Field(default=30, ge=1, le=90)
    # A retried refresh within this window gets the successor already issued (not reuse).
    refresh_grace_s: int = Field(default=10, ge=0, le=10)
    # Unverified accounts may sign in (their tokens say `email_verified: false`); false
    # refuses them with 403 /problems/email-not-verified until they confirm.
    allow_unverified_login: bool = True
    verify_email_ttl_h: int = Field(default=24, ge=1, le=24)
    reset_password_ttl_min: int = Field(default=30, ge=5, le=30)
    keys_file: Path | None = None  # default: MERCATO_DATA_DIR/keys/jwt-keys.json
    field_keys_file: Path | None = None  # default: MERCATO_DATA_DIR/keys/field-keys.json
    password_hash_workers: int | None = Field(default=None, ge=1, le=64)

    @field_validator("public_url", "frontend_url")
    @classmethod
    def _absolute_http_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        checked_url(url, schemes=("https", "http"), example="https://shop.example.com")
        return url.rstrip("/")
