"""Starting identity in a process: key rings, the password hasher, the session-check
cache (its commit listener, and the `RightsChanged` events each revoking commit carries),
and the authenticator the kernel asks who is calling."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from mercato.identity.auth import IdentityAuthenticator, ServiceTokenIssuer
from mercato.identity.config import IdentitySettings
from mercato.identity.known_devices import KnownDevices
from mercato.identity.mail_templates import MailLinks
from mercato.identity.principal_cache import NoPrincipalCache, PrincipalCache, RedisPrincipalCache
from mercato.identity.repository import rights_events
from mercato.identity.services import IdentityServices, field_keys_file, jwt_keys_file
from mercato.platform.module import Started
from mercato.platform.runtime import Runtime
from mercato.platform.security.fields import FieldKeyRing
from mercato.platform.security.hashing import PasswordHasher
from mercato.platform.security.jwt import AccessTokens, KeyRing
from mercato.platform.security.sealing import Sealer

logger = structlog.get_logger(__name__)


@asynccontextmanager
async def start(runtime: Runtime) -> AsyncIterator[Started]:
    """Load the key rings (made on first start), start the password hasher's threads, and
    the session-check cache (Redis, invalidated after each commit that changes rights)."""
    settings = runtime.settings.section(IdentitySettings)
    principals: PrincipalCache = (
        RedisPrincipalCache(runtime.redis, registry=runtime.registry)
        if runtime.redis is not None
        else NoPrincipalCache()
    )
    services = IdentityServices(
        settings=settings,
        hasher=PasswordHasher(workers=settings.password_hash_workers),
        tokens=AccessTokens(
            KeyRing.load_or_create(jwt_keys_file(runtime.settings)),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl=dt.timedelta(seconds=settings.access_ttl_s),
        ),
        field_keys=FieldKeyRing.load_or_create(field_keys_file(runtime.settings)),
        refresh_sealer=Sealer(
            runtime.settings.secret_key.get_secret_value().encode(), purpose="refresh-successor"
        ),
        principals=principals,
        devices=KnownDevices(runtime.settings.secret_key.get_secret_value().encode()),
        links=MailLinks.for_settings(runtime.settings),
    )
    if runtime.settings.is_production and settings.frontend_url is None:
        logger.warning(
            "mail_links_without_frontend",
            pages=services.links.pages,
            hint="set IDENTITY_FRONTEND_URL: verify and reset links need pages to open",
        )
    try:
        yield Started(
            services,
            commit_listeners=(principals.on_commit,),
            change_events=(rights_events,),
            authenticator=IdentityAuthenticator(services, runtime=runtime),
            service_tokens=ServiceTokenIssuer(services.tokens),
        )
    finally:
        await principals.close()
        services.hasher.close()
