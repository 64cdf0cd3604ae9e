"""Merchant endpoints' signing secrets at rest: encrypted with the service's field keys,
each bound (associated data) to its table, column and endpoint row, so a ciphertext copied
to another row or column does not decrypt. A secret is shown once, in the answer that
created it, and never logged.

During a rotation an endpoint has two secrets: the new one, and the previous one until its
grace period ends; deliveries are signed with both (Standard Webhooks allows several
signatures), so the merchant can switch their receiver over without refusing anything.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Any

from mercato.payments.merchant_webhooks import new_endpoint_secret
from mercato.payments.models import WebhookEndpoint
from mercato.platform.db.database import Database
from mercato.platform.security.fields import FieldKeyRing, FieldLocation
from mercato.platform.security.reencryption import reencrypt_column

_TABLE = "payments_webhook_endpoint"
CURRENT = "secret_encrypted"
PREVIOUS = "previous_secret_encrypted"


def seal(secret: str, *, endpoint_id: uuid.UUID, column: str, keys: FieldKeyRing) -> dict[str, Any]:
    """`secret` encrypted for `column` of the endpoint `endpoint_id`."""
    return keys.encrypt(secret, location=FieldLocation(_TABLE, column, endpoint_id))


def signing_secrets(
    endpoint: WebhookEndpoint, *, keys: FieldKeyRing, now: dt.datetime
) -> tuple[str, ...]:
    """The secrets that sign a delivery now: the current one first, then the previous one
    while its grace period lasts."""
    current = keys.decrypt(endpoint.secret_encrypted, location=_location(endpoint, CURRENT))
    previous = endpoint.previous_secret_encrypted
    expires = endpoint.previous_secret_expires_at
    if previous is None or expires is None or expires <= now:
        return (current,)
    return (current, keys.decrypt(previous, location=_location(endpoint, PREVIOUS)))


def rotate(
    endpoint: WebhookEndpoint, *, keys: FieldKeyRing, now: dt.datetime, grace: dt.timedelta
) -> str:
    """Give `endpoint` a new current secret (returned, to be shown once); the current one
    becomes the previous one, signing alongside until `now + grace`. A previous secret
    still in its grace period is dropped: at most two secrets sign."""
    old = keys.decrypt(endpoint.secret_encrypted, location=_location(endpoint, CURRENT))
    secret = new_endpoint_secret()
    endpoint.secret_encrypted = seal(secret, endpoint_id=endpoint.id, column=CURRENT, keys=keys)
    if grace > dt.timedelta(0):
        endpoint.previous_secret_encrypted = seal(
            old, endpoint_id=endpoint.id, column=PREVIOUS, keys=keys
        )
        endpoint.previous_secret_expires_at = now + grace
    else:
        endpoint.previous_secret_encrypted = None
        endpoint.previous_secret_expires_at = None
    return secret


def _location(endpoint: WebhookEndpoint, column: str) -> FieldLocation:
    return FieldLocation(_TABLE, column, endpoint.id)


async def reencrypt_secrets(database: Database, keys: FieldKeyRing) -> int:
    """Rewrite every endpoint secret (current and previous, deleted endpoints' too: their
    rows stay) not under the ring's current key; how many values were rewritten."""
    rewritten = 0
    for column in (WebhookEndpoint.secret_encrypted, WebhookEndpoint.previous_secret_encrypted):
        rewritten += await reencrypt_column(
            database,
            keys,
            row_id=WebhookEndpoint.id,
            column=column,
            location=functools.partial(FieldLocation, _TABLE, column.key),
        )
    return rewritten
