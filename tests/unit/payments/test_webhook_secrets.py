"""Merchant endpoint secrets at rest: encrypted per row and column, two signing during a
rotation's grace period, one after it."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mercato.payments.models import WebhookEndpoint
from mercato.payments.webhook_secrets import CURRENT, PREVIOUS, rotate, seal, signing_secrets
from mercato.platform.security.fields import FieldDecryptionError, FieldKeyRing

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
GRACE = dt.timedelta(hours=24)


def endpoint_with(secret: str, keys: FieldKeyRing) -> WebhookEndpoint:
    endpoint_id = uuid.uuid4()
    return WebhookEndpoint(
        id=endpoint_id,
        secret_encrypted=seal(secret, endpoint_id=endpoint_id, column=CURRENT, keys=keys),
    )


def test_a_secret_is_stored_encrypted_and_reads_back() -> None:
    keys = FieldKeyRing.generate()
    endpoint = endpoint_with("whsec_first", keys)
    assert "whsec_first" not in str(endpoint.secret_encrypted)
    assert signing_secrets(endpoint, keys=keys, now=NOW) == ("whsec_first",)


def test_a_secret_copied_to_another_endpoint_does_not_decrypt() -> None:
    keys = FieldKeyRing.generate()
    victim, other = endpoint_with("whsec_victim", keys), endpoint_with("whsec_other", keys)
    other.secret_encrypted = victim.secret_encrypted
    with pytest.raises(FieldDecryptionError):
        signing_secrets(other, keys=keys, now=NOW)


def test_after_a_rotation_both_secrets_sign_until_the_grace_period_ends() -> None:
    keys = FieldKeyRing.generate()
    endpoint = endpoint_with("whsec_old", keys)
    new = rotate(endpoint, keys=keys, now=NOW, grace=GRACE)
    assert new.startswith("whsec_")
    assert signing_secrets(endpoint, keys=keys, now=NOW) == (new, "whsec_old")
    assert signing_secrets(endpoint, keys=keys, now=NOW + GRACE) == (new,)


def test_the_previous_secret_is_bound_to_its_own_column() -> None:
    keys = FieldKeyRing.generate()
    endpoint = endpoint_with("whsec_old", keys)
    rotate(endpoint, keys=keys, now=NOW, grace=GRACE)
    endpoint.previous_secret_encrypted = seal(
        "whsec_forged", endpoint_id=endpoint.id, column=CURRENT, keys=keys
    )
    with pytest.raises(FieldDecryptionError):
        signing_secrets(endpoint, keys=keys, now=NOW)
    assert PREVIOUS != CURRENT


def test_a_rotation_without_grace_keeps_one_secret() -> None:
    keys = FieldKeyRing.generate()
    endpoint = endpoint_with("whsec_old", keys)
    new = rotate(endpoint, keys=keys, now=NOW, grace=dt.timedelta(0))
    assert signing_secrets(endpoint, keys=keys, now=NOW) == (new,)
