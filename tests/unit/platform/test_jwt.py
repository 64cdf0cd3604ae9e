"""The access-token attack list: every forged, stale or foreign token is refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mercato.platform.security.jwt import AccessTokens, InvalidToken, KeyRing, SigningKey

ISSUER = "https://mercato.test"
AUDIENCE = "mercato-api"


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing(current=SigningKey.generate(), next=SigningKey.generate())


@pytest.fixture
def tokens(ring: KeyRing) -> AccessTokens:
    return AccessTokens(ring, issuer=ISSUER, audience=AUDIENCE, ttl=dt.timedelta(minutes=10))


def claims(**overrides: object) -> dict[str, object]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    base: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "sid": "session-1",
        "jti": "token-1",
        "roles": ["customer"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return base


def signed(ring: KeyRing, payload: dict[str, object], **header: object) -> str:
    headers = {"kid": ring.current.kid, "typ": "at+jwt", **header}
    return pyjwt.encode(payload, ring.current.private_key, algorithm="EdDSA", headers=headers)


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_genuine_token_round_trips(tokens: AccessTokens) -> None:
    token, issued = tokens.issue(
        subject="user-1", session_id="s-1", roles=("customer",), email_verified=True
    )
    verified = tokens.verify(token)
    assert (verified.subject, verified.session_id, verified.roles) == (
        "user-1",
        "s-1",
        ("customer",),
    )
    assert verified.token_id == issued.token_id
    header = pyjwt.get_unverified_header(token)
    assert (header["alg"], header["typ"], header["kid"]) == (
        "EdDSA",
        "at+jwt",
        tokens.ring.current.kid,
    )


def test_alg_none_is_refused(tokens: AccessTokens, ring: KeyRing) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': ring.current.kid})}.{b64(claims())}."
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_hs256_signed_with_the_public_key_is_refused(tokens: AccessTokens, ring: KeyRing) -> None:
    public_pem = ring.current.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64({"alg": "HS256", "typ": "at+jwt", "kid": ring.current.kid})
    body = f"{header}.{b64(claims())}"
    signature = hmac.new(public_pem, body.encode(), hashlib.sha256).digest()
    token = f"{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    with pytest.raises(InvalidToken):
        tokens.verify(token)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_other_key_types_are_refused(tokens: AccessTokens, ring: KeyRing, algorithm: str) -> None:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    token = pyjwt.encode(
        claims(), key, algorithm=algorithm, headers={"kid": ring.current.kid, "typ": "at+jwt"}
    )
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_an_unknown_kid_is_refused(tokens: AccessTokens) -> None:
    stranger = KeyRing(current=SigningKey.generate(), next=SigningKey.generate())
    with pytest.raises(InvalidToken):
        tokens.verify(signed(stranger, claims()))


def test_embedded_or_remote_keys_are_ignored(tokens: AccessTokens) -> None:
    attacker = SigningKey.generate()
    token = pyjwt.encode(
        claims(),
        attacker.private_key,
        algorithm="EdDSA",
        headers={"typ": "at+jwt", "jwk": attacker.jwk(), "jku": "https://evil.example/jwks"},
    )
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_critical_extensions_are_refused(tokens: AccessTokens, ring: KeyRing) -> None:
    with pytest.raises(InvalidToken):
        tokens.verify(signed(ring, claims(), crit=["exp"]))


def test_oversized_tokens_are_refused(tokens: AccessTokens, ring: KeyRing) -> None:
    with pytest.raises(InvalidToken):
        tokens.verify(signed(ring, claims(padding="x" * 9_000)))


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(dt.datetime.now(dt.UTC).timestamp()) - 120},
        {"nbf": int(dt.datetime.now(dt.UTC).timestamp()) + 3600},
        {"iss": "https://evil.example"},
        {"aud": "another-api"},
    ],
    ids=["expired", "not-yet-valid", "wrong-issuer", "wrong-audience"],
)
def test_claims_are_enforced(
    tokens: AccessTokens, ring: KeyRing, overrides: dict[str, object]
) -> None:
    with pytest.raises(InvalidToken):
        tokens.verify(signed(ring, claims(**overrides)))


@pytest.mark.parametrize("missing", ["exp", "sub", "jti", "sid", "iss", "aud"])
def test_required_claims_must_be_present(tokens: AccessTokens, ring: KeyRing, missing: str) -> None:
    payload = claims()
    del payload[missing]
    with pytest.raises(InvalidToken):
        tokens.verify(signed(ring, payload))


def test_a_tampered_payload_is_refused(tokens: AccessTokens) -> None:
    token, _ = tokens.issue(
        subject="user-1", session_id="s-1", roles=("customer",), email_verified=True
    )
    header, _, signature = token.split(".")
    forged = f"{header}.{b64(claims(roles=['admin']))}.{signature}"
    with pytest.raises(InvalidToken):
        tokens.verify(forged)


def test_other_token_types_cannot_pass_as_access_tokens(
    tokens: AccessTokens, ring: KeyRing
) -> None:
    with pytest.raises(InvalidToken):
        tokens.verify(signed(ring, claims(), typ="JWT"))
    with pytest.raises(InvalidToken):
        tokens.verify("opaque-refresh-token-value")


def test_rotation_keeps_old_tokens_valid_then_drops_the_retired_key(
    ring: KeyRing, tokens: AccessTokens
) -> None:
    old_token, _ = tokens.issue(subject="u", session_id="s", roles=(), email_verified=True)
    rotated = ring.rotated(keep_previous_for=dt.timedelta(minutes=15))
    assert rotated.current.kid == ring.next.kid
    after = AccessTokens(rotated, issuer=ISSUER, audience=AUDIENCE, ttl=dt.timedelta(minutes=10))
    assert after.verify(old_token).subject == "u"
    kids = {key["kid"] for key in rotated.jwks()["keys"]}
    assert kids == {ring.current.kid, ring.next.kid, rotated.next.kid}

    gone = rotated.rotated(keep_previous_for=dt.timedelta(0))
    later = AccessTokens(gone, issuer=ISSUER, audience=AUDIENCE, ttl=dt.timedelta(minutes=10))
    with pytest.raises(InvalidToken):
        later.verify(old_token)


def test_the_key_file_is_private_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "jwt-keys.json"
    first = KeyRing.load_or_create(path)
    again = KeyRing.load_or_create(path)
    assert again.current.kid == first.current.kid
    assert path.stat().st_mode & 0o777 == 0o600
    public = json.dumps(first.jwks())
    assert "PRIVATE" not in public
    assert all(set(key) == {"kty", "crv", "x", "kid", "alg", "use"} for key in first.jwks()["keys"])


def test_a_remembered_token_is_refused_once_expired(
    tokens: AccessTokens, ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mercato.platform.security.jwt.LEEWAY_S", 0)
    token = signed(ring, claims(exp=int(dt.datetime.now(dt.UTC).timestamp()) + 1))
    assert tokens.verify(token).subject == "user-1"
    assert tokens.verify(token).subject == "user-1"  # from memory now
    time.sleep(1.1)
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_a_remembered_token_is_refused_once_its_key_leaves_the_ring(
    tokens: AccessTokens, ring: KeyRing
) -> None:
    token, _ = tokens.issue(subject="u", session_id="s", roles=(), email_verified=True)
    assert tokens.verify(token).subject == "u"
    tokens.ring = ring.rotated(keep_previous_for=dt.timedelta(0)).rotated(
        keep_previous_for=dt.timedelta(0)
    )
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_remembering_a_token_does_not_let_a_tampered_copy_pass(tokens: AccessTokens) -> None:
    token, _ = tokens.issue(subject="u", session_id="s", roles=(), email_verified=True)
    tokens.verify(token)
    header, payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["roles"] = ["admin"]
    with pytest.raises(InvalidToken):
        tokens.verify(f"{header}.{b64(forged)}.{signature}")
