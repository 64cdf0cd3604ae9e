"""Opaque secrets handed to users (refresh tokens, email links): 256 random bits, shown
once, stored only as SHA-256 (a database leak reveals no usable token)."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
