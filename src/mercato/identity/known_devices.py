"""Known devices: how sign-in tells the owner's client from an attacker's.

OWASP's answer to aimed lock-outs ("Slow Down Online Guessing Attacks with Device Cookies"):
a successful sign-in hands the client a *device token*, a signed statement "this client
signed in to this account". Later sign-ins that present it are throttled per device, not
per account, so failures from elsewhere (an attacker guessing from any number of IPs)
never hold the owner's own client back. The token is no credential: the password is still
needed, and it is bound to one account.

A token is `d1.<user id>.<device id>.<expiry>.<HMAC-SHA256>`, stateless (nothing stored),
signed with a key derived from `MERCATO_SECRET_KEY`. A new device gets one in two ways: a
successful sign-in that was not held back, or the sign-in link mailed to the owner when the
right password arrives from an unknown client while the account is held back (a short-lived
token, exchanged for a long-lived one at the next sign-in).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import secrets
import uuid
from dataclasses import dataclass
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mercato.platform.clock import utc_now

DEVICE_TTL = dt.timedelta(days=90)
LINK_TTL = dt.timedelta(minutes=30)
MAX_TOKEN_LENGTH = 300
_VERSION = "d1"


@dataclass(frozen=True, slots=True)
class KnownDevice:
    """A client that signed in to `user_id` before (the device token checked out)."""

    user_id: uuid.UUID
    device_id: str
    expires_at: dt.datetime


class KnownDevices:
    """Issues and checks device tokens (see the module doc)."""

    def __init__(self, secret_key: bytes) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"mercato:known-device"
        ).derive(secret_key)

    def issue(
        self, user_id: uuid.UUID, *, device_id: str | None = None, ttl: dt.timedelta = DEVICE_TTL
    ) -> str:
        """A token for a device of `user_id` (a new one unless `device_id`), valid for `ttl`."""
        expires = int((utc_now() + ttl).timestamp())
        device = device_id or secrets.token_hex(16)
        body = f"{_VERSION}.{user_id.hex}.{device}.{expires}"
        return f"{body}.{self._sign(body)}"

    def read(self, token: str | None, *, user_id: uuid.UUID) -> KnownDevice | None:
        """The device, if `token` is a valid, unexpired token of `user_id`; else None."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        body, _, signature = token.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            return None
        try:
            version, user_hex, device_id, expires = body.split(".")
            expires_at = dt.datetime.fromtimestamp(int(expires), tz=dt.UTC)
            owner = uuid.UUID(hex=user_hex)
        except ValueError:
            return None
        if (
            version != _VERSION
            or owner != user_id
            or expires_at <= utc_now()
            or len(device_id) != 32
            or not device_id.isalnum()
        ):
            return None
        return KnownDevice(user_id=owner, device_id=device_id, expires_at=expires_at)

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
