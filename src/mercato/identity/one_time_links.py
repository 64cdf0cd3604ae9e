"""Single-use links (verify an address, reset a password): a token for one purpose.

The token goes into the mail only; the database keeps its SHA-256 with the purpose, the
user, the address it was sent to and its expiry. Issuing one voids the user's older ones
of the same purpose.
"""

from __future__ import annotations

import datetime as dt

from mercato.identity import opaque_tokens
from mercato.identity.models import User
from mercato.identity.repository import IdentityRepository
from mercato.platform.clock import utc_now

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a token purpose, not a password


async def issue(users: IdentityRepository, *, user: User, purpose: str, ttl: dt.timedelta) -> str:
    """A fresh single-use token for `user`'s current address (older ones are voided)."""
    token = opaque_tokens.new_token()
    await users.issue_one_time_token(
        user_id=user.id,
        purpose=purpose,
        email=user.email,
        token_hash=opaque_tokens.digest(token),
        expires_at=utc_now() + ttl,
    )
    return token
