"""Webhook signatures: `Sandbox-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "t.body")>`.

One `v1` per active secret, so a receiver in the middle of a rotation verifies with either
its old or its new secret. The timestamp is inside the signed text: a captured delivery
cannot be replayed later with a fresh `t`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "Sandbox-Signature"


def sign(body: bytes, *, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` under `secret` (the whole string)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(body: bytes, *, secrets: Sequence[str], timestamp: int) -> str:
    if not secrets:
        raise ValueError("at least one webhook secret is needed to sign")
    signatures = (f"v1={sign(body, secret=secret, timestamp=timestamp)}" for secret in secrets)
    return ",".join((f"t={timestamp}", *signatures))
