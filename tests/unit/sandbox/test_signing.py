"""The webhook signature the sandbox sends."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from mercato.sandbox.signing import sign, signature_header


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"whsec_secret", b"1700000000." + body, hashlib.sha256).hexdigest()

    assert sign(body, secret="whsec_secret", timestamp=1_700_000_000) == expected


def test_the_header_carries_one_v1_per_secret() -> None:
    header = signature_header(b"{}", secrets=("whsec_old", "whsec_new"), timestamp=42)

    timestamp, old, new = header.split(",")
    assert timestamp == "t=42"
    assert old == "v1=" + sign(b"{}", secret="whsec_old", timestamp=42)
    assert new == "v1=" + sign(b"{}", secret="whsec_new", timestamp=42)


def test_there_is_no_signature_without_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        signature_header(b"{}", secrets=(), timestamp=42)
