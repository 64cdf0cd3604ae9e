"""Standard Webhooks signing (https://www.standardwebhooks.com) with the `standardwebhooks`
package: the receiver verifies with any Standard Webhooks library.

`webhook-id` is the message id, the same on every retry (receivers deduplicate on it);
`webhook-timestamp` is the time of this attempt (receivers refuse stale ones);
`webhook-signature` is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per active
secret of the endpoint (current first) so that a secret can be rotated without a gap.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32  # the spec asks for 24 to 64


def new_endpoint_secret() -> str:
    """A fresh endpoint signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_headers(
    *, message_id: str, body: bytes, signing_secrets: Sequence[str], at: datetime
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt of one message."""
    if not signing_secrets:
        raise ValueError("an endpoint needs at least one signing secret")
    if at.tzinfo is None:
        raise ValueError("the signing time must be timezone-aware")
    # standardwebhooks replaces the tzinfo with UTC rather than converting: convert first.
    at_utc = at.astimezone(UTC)
    text = body.decode("utf-8")  # the payload is JSON; the bytes sent are these bytes
    signatures = [
        Webhook(secret).sign(msg_id=message_id, timestamp=at_utc, data=text)
        for secret in signing_secrets
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at_utc.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
