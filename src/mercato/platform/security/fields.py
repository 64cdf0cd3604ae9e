"""Personal data encrypted at rest, field by field (AES-256-GCM, a key id per value).

A value is stored as `{"v": 1, "kid": ..., "nonce": ..., "ct": ...}`. The associated data
is `table:column:row_id`, so a ciphertext copied into another row (or column) does not
decrypt. Reads use any key of the ring; writes use the current one; after a rotation a
job re-encrypts old values, and only then may the old key be dropped. A value whose key is
missing fails closed: an error, never an empty or made-up value.

The ring lives in a JSON file outside the repository (created on first start, mode 0600),
like the signing keys; `mercato keys rotate` adds a new current key.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mercato.platform.security.keyfiles import write_private_file

FORMAT_VERSION = 1
_KEY_BYTES = 32
_NONCE_BYTES = 12


class FieldDecryptionError(Exception):
    """A stored value cannot be read back (an operational error: never shown to users)."""


class MissingFieldKey(FieldDecryptionError):
    """The value was written with a key this process does not have."""


@dataclass(frozen=True, slots=True)
class FieldLocation:
    """Where a value lives; bound into the ciphertext as associated data."""

    table: str
    column: str
    row_id: object

    @property
    def associated_data(self) -> bytes:
        return f"{self.table}:{self.column}:{self.row_id}".encode()


@dataclass(frozen=True, slots=True)
class FieldKeyRing:
    current: str
    keys: Mapping[str, bytes] = field(repr=False)

    @classmethod
    def generate(cls) -> FieldKeyRing:
        kid = secrets.token_hex(8)
        return cls(current=kid, keys={kid: AESGCM.generate_key(bit_length=256)})

    def rotated(self) -> FieldKeyRing:
        """A new current key; the old ones stay for reading until re-encryption is done."""
        kid = secrets.token_hex(8)
        return FieldKeyRing(
            current=kid, keys={**self.keys, kid: AESGCM.generate_key(bit_length=256)}
        )

    def without(self, kid: str) -> FieldKeyRing:
        if kid == self.current:
            raise ValueError("the current key cannot be removed")
        return FieldKeyRing(
            current=self.current, keys={k: v for k, v in self.keys.items() if k != kid}
        )

    # --- values ------------------------------------------------------------------------

    def encrypt(self, plaintext: str, *, location: FieldLocation) -> dict[str, Any]:
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(self.keys[self.current]).encrypt(
            nonce, plaintext.encode(), location.associated_data
        )
        return {
            "v": FORMAT_VERSION,
            "kid": self.current,
            "nonce": _b64(nonce),
            "ct": _b64(ciphertext),
        }

    def decrypt(self, stored: Mapping[str, Any], *, location: FieldLocation) -> str:
        try:
            version, kid = stored["v"], stored["kid"]
            nonce, ciphertext = _unb64(stored["nonce"]), _unb64(stored["ct"])
        except (KeyError, TypeError, ValueError):
            raise FieldDecryptionError("not an encrypted field value") from None
        if version != FORMAT_VERSION:
            raise FieldDecryptionError(f"unknown encrypted field format {version!r}")
        key = self.keys.get(kid)
        if key is None:
            raise MissingFieldKey(f"no field key {kid!r} in the key ring")
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, location.associated_data).decode()
        except (InvalidTag, ValueError):
            raise FieldDecryptionError(
                f"{location.table}.{location.column} does not decrypt for this row"
            ) from None

    def is_current(self, stored: Mapping[str, Any]) -> bool:
        return stored.get("kid") == self.current

    # --- storage -----------------------------------------------------------------------

    @classmethod
    def load_or_create(cls, path: Path) -> FieldKeyRing:
        if path.exists():
            return cls.load(path)
        ring = cls.generate()
        ring.save(path)
        return ring

    @classmethod
    def load(cls, path: Path) -> FieldKeyRing:
        data = json.loads(path.read_text())
        keys = {kid: _unb64(value) for kid, value in data["keys"].items()}
        if data["current"] not in keys or any(len(key) != _KEY_BYTES for key in keys.values()):
            raise ValueError(f"{path} is not a valid field key ring")
        return cls(current=data["current"], keys=keys)

    def save(self, path: Path) -> None:
        keys = {kid: _b64(key) for kid, key in self.keys.items()}
        write_private_file(path, json.dumps({"current": self.current, "keys": keys}, indent=2))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class FieldKeyFile:
    """A ring's file, read again whenever it changes on disk. A long-running process (a
    worker) then follows a rotation made by another process (`keys rotate`): it decrypts
    what the re-encryption job rewrote under the new key, and encrypts under it, without a
    restart. One `stat` per use; the file is replaced atomically (`write_private_file`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ring = FieldKeyRing.load_or_create(path)
        self._stamp = self._stamp_now()

    def _stamp_now(self) -> tuple[int, int, int]:
        status = self.path.stat()
        return status.st_ino, status.st_mtime_ns, status.st_size

    def ring(self) -> FieldKeyRing:
        try:
            stamp = self._stamp_now()
            if stamp != self._stamp:
                self._ring, self._stamp = FieldKeyRing.load(self.path), stamp
        except (OSError, ValueError, KeyError):
            pass  # unreadable for now: keep the ring that worked (its keys still read)
        return self._ring
