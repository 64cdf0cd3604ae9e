"""Sealing short-lived secrets at rest: AES-256-GCM with a key derived from the secret key.

The associated data binds a ciphertext to its row, so a sealed value copied to another row
does not open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


class Sealer:
    def __init__(self, secret_key: bytes, *, purpose: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"mercato:{purpose}".encode()
        ).derive(secret_key)
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, associated_data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def open(self, sealed: bytes, *, associated_data: bytes) -> bytes | None:
        """The plaintext, or None when the value was tampered with or moved."""
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated_data)
        except (InvalidTag, ValueError):
            return None
