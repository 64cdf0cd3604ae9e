"""Access tokens: EdDSA (Ed25519) JWTs signed with a rotating key ring.

The ring holds a `current` key (signs), a `next` key (published early, so caches of the
JWKS already know it when it becomes current) and `previous` keys (kept while tokens they
signed may still be alive). Private keys live in a JSON file outside the repository
(`MERCATO_DATA_DIR/keys/jwt-keys.json`, mode 0600), generated on first start.

Verification trusts nothing from the token's header but `kid`, resolved against our own
ring: `jku`, `x5u`, `jwk` and `x5c` are ignored, `alg` must be EdDSA, `crit` is refused,
tokens over 8 KB are refused, and `typ` must be `at+jwt` (RFC 9068) so that no other kind
of token can pass as an access token.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mercato.platform.clock import utc_now
from mercato.platform.security.keyfiles import write_private_file

ALGORITHM = "EdDSA"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
MAX_TOKEN_BYTES = 8 * 1024
LEEWAY_S = 30
# Tokens verified already, by their text (see `AccessTokens.verify`).
VERIFIED_TOKENS_KEPT = 10_000


class InvalidToken(Exception):
    """The token is not one of ours, or no longer valid. Deliberately vague."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    created_at: dt.datetime
    retired_at: dt.datetime | None = None

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, str]:
        raw = self.public_key.public_bytes(
            encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
        )
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(
            kid=uuid.uuid4().hex, private_key=Ed25519PrivateKey.generate(), created_at=utc_now()
        )


@dataclass(frozen=True, slots=True)
class KeyRing:
    current: SigningKey
    next: SigningKey
    previous: tuple[SigningKey, ...] = ()

    def verification_key(self, kid: str) -> SigningKey | None:
        for key in (self.current, self.next, *self.previous):
            if key.kid == kid:
                return key
        return None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.jwk() for key in (self.current, self.next, *self.previous)]}

    def rotated(self, *, keep_previous_for: dt.timedelta) -> KeyRing:
        """`next` signs from now on; the old current is kept for `keep_previous_for`."""
        now = utc_now()
        retired = SigningKey(
            kid=self.current.kid,
            private_key=self.current.private_key,
            created_at=self.current.created_at,
            retired_at=now,
        )
        kept = tuple(
            key
            for key in (retired, *self.previous)
            if key.retired_at is None or now - key.retired_at < keep_previous_for
        )
        return KeyRing(current=self.next, next=SigningKey.generate(), previous=kept)

    # --- storage -----------------------------------------------------------------------

    @classmethod
    def load_or_create(cls, path: Path) -> KeyRing:
        if path.exists():
            return cls.from_json(path.read_text())
        ring = cls(current=SigningKey.generate(), next=SigningKey.generate())
        ring.save(path)
        return ring

    def save(self, path: Path) -> None:
        write_private_file(path, self.to_json())

    def to_json(self) -> str:
        return json.dumps(
            {
                "current": _dump(self.current),
                "next": _dump(self.next),
                "previous": [_dump(key) for key in self.previous],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        data = json.loads(text)
        return cls(
            current=_load(data["current"]),
            next=_load(data["next"]),
            previous=tuple(_load(item) for item in data.get("previous", [])),
        )


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str
    session_id: str
    token_id: str
    roles: tuple[str, ...]
    expires_at: dt.datetime


class AccessTokens:
    """Issue and verify access tokens for one issuer and its audiences."""

    def __init__(self, ring: KeyRing, *, issuer: str, audience: str, ttl: dt.timedelta) -> None:
        self.ring = ring
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl
        self._verified: dict[str, tuple[str, AccessClaims]] = {}

    def issue(
        self, *, subject: str, session_id: str, roles: tuple[str, ...], email_verified: bool
    ) -> tuple[str, AccessClaims]:
        now = utc_now()
        claims = AccessClaims(
            subject=subject,
            session_id=session_id,
            token_id=uuid.uuid4().hex,
            roles=roles,
            expires_at=now + self._ttl,
        )
        token = jwt.encode(
            {
                "iss": self._issuer,
                "aud": self._audience,
                "sub": subject,
                "sid": session_id,
                "jti": claims.token_id,
                "roles": list(roles),
                # Unverified accounts may be allowed to sign in: services can tell.
                "email_verified": email_verified,
                "iat": int(now.timestamp()),
                "nbf": int(now.timestamp()),
                "exp": int(claims.expires_at.timestamp()),
            },
            self.ring.current.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self.ring.current.kid, "typ": ACCESS_TOKEN_TYPE},
        )
        return token, claims

    def verify(self, token: str) -> AccessClaims:
        """An access token of ours for this audience (`InvalidToken` otherwise).

        A client sends the same token with every request while it lives, and parsing and
        checking it (PyJWT, an Ed25519 signature) was a third of the CPU of an admin search
        (docs/benchmarks.md): a token verified once is taken again from memory, while it
        has not expired (same leeway) and its key is still in the ring. Revocation is not
        this check's business: the session check runs on every request either way."""
        known = self._verified.get(token)
        if known is not None:
            kid, claims = known
            expired = claims.expires_at + dt.timedelta(seconds=LEEWAY_S) <= utc_now()
            if not expired and self.ring.verification_key(kid) is not None:
                return claims
            del self._verified[token]
        kid, claims = self._verify_signed(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[token] = (kid, claims)
        return claims

    def _verify_signed(self, token: str) -> tuple[str, AccessClaims]:
        kid = unverified_kid(token)
        key = self.ring.verification_key(kid)
        if key is None:
            raise InvalidToken("unknown key")
        claims = verify_signed(
            token, key.public_key, issuer=self._issuer, audiences=(self._audience,)
        )
        return kid, AccessClaims(
            subject=str(claims["sub"]),
            session_id=str(claims["sid"]),
            token_id=str(claims["jti"]),
            roles=tuple(claims["roles"]),
            expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
        )

    def issue_service_token(
        self, *, service: str, audience: str, scopes: tuple[str, ...], ttl: dt.timedelta
    ) -> str:
        """A short-lived token for a call from one of our services to another (`aud` is
        the callee, `sub` the calling service, `scope` what it may do there)."""
        now = utc_now()
        return jwt.encode(
            {
                "iss": self._issuer,
                "aud": audience,
                "sub": f"service:{service}",
                "sid": f"service:{service}",
                "jti": uuid.uuid4().hex,
                "roles": [],
                "scope": " ".join(scopes),
                "iat": int(now.timestamp()),
                "nbf": int(now.timestamp()),
                "exp": int((now + ttl).timestamp()),
            },
            self.ring.current.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self.ring.current.kid, "typ": ACCESS_TOKEN_TYPE},
        )


def unverified_kid(token: str) -> str:
    """The `kid` of a token's header, after the checks no signature is needed for (size,
    algorithm, type, no critical extensions); the only header value we trust."""
    if len(token.encode()) > MAX_TOKEN_BYTES:
        raise InvalidToken("token too large")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("malformed token") from None
    if header.get("alg") != ALGORITHM or header.get("typ") != ACCESS_TOKEN_TYPE:
        raise InvalidToken("unexpected token type or algorithm")
    if "crit" in header:
        raise InvalidToken("critical header extensions are not supported")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("no key id")
    return kid


def verify_signed(
    token: str, key: Ed25519PublicKey, *, issuer: str, audiences: tuple[str, ...]
) -> dict[str, Any]:
    """The claims of `token` signed by `key` for one of `audiences` (`InvalidToken`)."""
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=list(audiences),
            issuer=issuer,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "nbf", "sub", "jti", "iss", "aud", "sid"]},
        )
    except jwt.PyJWTError:
        raise InvalidToken("invalid token") from None
    roles = payload.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidToken("invalid roles claim")
    return payload


def public_key_of(jwk: dict[str, Any]) -> Ed25519PublicKey | None:
    """The Ed25519 public key of a JWK (None for any other kind of key)."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        return None
    try:
        raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


def _dump(key: SigningKey) -> dict[str, str | None]:
    pem = key.private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return {
        "kid": key.kid,
        "private_key": pem.decode(),
        "created_at": key.created_at.isoformat(),
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }


def _load(data: dict[str, Any]) -> SigningKey:
    private_key = serialization.load_pem_private_key(data["private_key"].encode(), password=None)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise ValueError(f"key {data['kid']} is not an Ed25519 key")
    retired = data.get("retired_at")
    return SigningKey(
        kid=data["kid"],
        private_key=private_key,
        created_at=dt.datetime.fromisoformat(data["created_at"]),
        retired_at=dt.datetime.fromisoformat(retired) if retired else None,
    )
