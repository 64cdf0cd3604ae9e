"""Another service's public keys, from its JWKS endpoint: fetched on first use, cached,
and fetched again when a token names a key we do not know (a rotation), at most once per
`refresh_every_s` so that tokens with made-up key ids cannot make us hammer the endpoint.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mercato.platform.security.jwt import public_key_of

logger = structlog.get_logger(__name__)


class RemoteKeySet:
    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        refresh_every_s: float = 30.0,
        timeout_s: float = 2.0,
    ) -> None:
        self._url = url
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._owns_client = client is None
        self._refresh_every_s = refresh_every_s
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key `kid`, or None if the key set does not have it (even after a
        fresh fetch, when one is allowed)."""
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and self._may_fetch():
                await self._fetch()
        return self._keys.get(kid)

    def _may_fetch(self) -> bool:
        return (
            self._fetched_at is None or time.monotonic() - self._fetched_at >= self._refresh_every_s
        )

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            logger.warning("jwks_unavailable", url=self._url, error=type(error).__name__)
            # Try again soon, not a whole refresh period later (the issuer may be starting).
            self._fetched_at -= max(self._refresh_every_s - 2.0, 0.0)
            return
        keys = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            key = public_key_of(jwk) if isinstance(jwk, dict) else None
            if key is not None and isinstance(jwk.get("kid"), str):
                keys[jwk["kid"]] = key
        self._keys = keys
        logger.info("jwks_fetched", url=self._url, keys=len(keys))

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
