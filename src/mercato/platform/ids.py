"""Time-ordered identifiers (UUIDv7, RFC 9562): sortable, index-friendly, unguessable enough
for event ids (not for secrets: use `secrets` for tokens)."""

from __future__ import annotations

import os
import time
import uuid


def uuid7(*, millis: int | None = None, random_bits: int | None = None) -> uuid.UUID:
    """A UUIDv7: 48-bit Unix milliseconds, version and variant bits, 74 random bits.

    `millis` and `random_bits` are for generated data (seeding) that must be reproducible.
    """
    if millis is None:
        millis = time.time_ns() // 1_000_000
    if random_bits is None:
        random_bits = int.from_bytes(os.urandom(10), "big")
    value = (millis & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version 7
    value |= ((random_bits >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 9562 variant
    value |= random_bits & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)
