"""Field encryption: values bound to their row, key ids, rotation, failing closed."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest

from mercato.platform.security.fields import (
    FieldDecryptionError,
    FieldKeyFile,
    FieldKeyRing,
    FieldLocation,
    MissingFieldKey,
)

ROW = FieldLocation("identity_user", "phone_encrypted", uuid.UUID(int=1))


def test_a_value_round_trips_and_is_stored_versioned_with_its_key_id() -> None:
    ring = FieldKeyRing.generate()
    stored = ring.encrypt("+441234567890", location=ROW)
    assert set(stored) == {"v", "kid", "nonce", "ct"}
    assert stored["v"] == 1
    assert stored["kid"] == ring.current
    assert "441234567890" not in str(stored)
    assert ring.decrypt(stored, location=ROW) == "+441234567890"
    assert ring.encrypt("+441234567890", location=ROW)["ct"] != stored["ct"]  # fresh nonce


@pytest.mark.parametrize(
    "elsewhere",
    [
        FieldLocation("identity_user", "phone_encrypted", uuid.UUID(int=2)),
        FieldLocation("identity_user", "address_encrypted", uuid.UUID(int=1)),
        FieldLocation("orders_order", "phone_encrypted", uuid.UUID(int=1)),
    ],
)
def test_a_ciphertext_moved_to_another_row_or_column_does_not_decrypt(
    elsewhere: FieldLocation,
) -> None:
    ring = FieldKeyRing.generate()
    stored = ring.encrypt("+441234567890", location=ROW)
    with pytest.raises(FieldDecryptionError):
        ring.decrypt(stored, location=elsewhere)


def test_a_missing_key_fails_closed() -> None:
    stored = FieldKeyRing.generate().encrypt("+441234567890", location=ROW)
    with pytest.raises(MissingFieldKey):
        FieldKeyRing.generate().decrypt(stored, location=ROW)


@pytest.mark.parametrize(
    "damage",
    [
        {"ct": "AAAA"},
        {"nonce": "not base64!"},
        {"v": 2},
        {"kid": None},
    ],
)
def test_a_damaged_value_fails(damage: dict[str, object]) -> None:
    ring = FieldKeyRing.generate()
    stored = {**ring.encrypt("+441234567890", location=ROW), **damage}
    with pytest.raises(FieldDecryptionError):
        ring.decrypt(stored, location=ROW)


def test_rotation_writes_with_the_new_key_and_still_reads_the_old(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "field-keys.json"
    ring = FieldKeyRing.load_or_create(path)
    old = ring.encrypt("+441234567890", location=ROW)
    rotated = ring.rotated()
    rotated.save(path)
    reloaded = FieldKeyRing.load(path)
    assert reloaded.current == rotated.current != ring.current
    assert reloaded.decrypt(old, location=ROW) == "+441234567890"
    assert not reloaded.is_current(old)
    assert reloaded.is_current(reloaded.encrypt("+1", location=ROW))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="current"):
        reloaded.without(reloaded.current)
    with pytest.raises(MissingFieldKey):
        reloaded.without(ring.current).decrypt(old, location=ROW)


def test_a_key_file_follows_a_rotation_made_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "field-keys.json"
    held = FieldKeyFile(path)  # made on first use, like the ring it holds
    first = held.ring()
    where = FieldLocation("t", "c", 1)
    old_value = first.encrypt("secret", location=where)
    assert held.ring() is first  # unchanged file: no reload

    rotated = FieldKeyRing.load(path).rotated()  # `keys rotate`, elsewhere
    rotated.save(path)
    new_value = rotated.encrypt("secret", location=where)
    assert held.ring().current == rotated.current
    assert held.ring().decrypt(new_value, location=where) == "secret"
    assert held.ring().decrypt(old_value, location=where) == "secret"


def test_an_unreadable_key_file_keeps_the_ring_that_worked(tmp_path: Path) -> None:
    path = tmp_path / "field-keys.json"
    held = FieldKeyFile(path)
    working = held.ring()
    path.write_text("{not json")
    assert held.ring() is working
    path.unlink()
    assert held.ring() is working
