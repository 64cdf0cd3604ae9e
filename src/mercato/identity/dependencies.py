"""FastAPI dependencies of the identity context: who is calling, and may they."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from mercato.identity.audit import AuditRecord, ClientInfo, record
from mercato.identity.errors import InvalidSession
from mercato.identity.principal_cache import PrincipalCache
from mercato.identity.service import Principal, authenticate
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.deps import DatabaseDep, SettingsDep
from mercato.platform.errors import PermissionDenied
from mercato.platform.http.middleware import add_response_headers
from mercato.platform.http.policy import declared_policy
from mercato.platform.http.rate_limits import RateLimiter, client_ip, is_ip_address
from mercato.platform.security.fields import FieldKeyRing
from mercato.platform.security.jwt import AccessTokens
from mercato.platform.security.passwords import PasswordHasher
from mercato.platform.security.sealing import Sealer


async def get_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


async def get_access_tokens(request: Request) -> AccessTokens:
    tokens: AccessTokens = request.app.state.access_tokens
    return tokens


async def get_sealer(request: Request) -> Sealer:
    sealer: Sealer = request.app.state.refresh_sealer
    return sealer


async def get_field_keys(request: Request) -> FieldKeyRing:
    keys: FieldKeyRing = request.app.state.field_keys
    return keys


async def get_client(request: Request, settings: SettingsDep) -> ClientInfo:
    # The peer address; X-Forwarded-For only when the peer is a configured trusted proxy.
    ip = client_ip(request, settings.http)
    return ClientInfo(
        ip=ip if is_ip_address(ip) else None, user_agent=request.headers.get("user-agent")
    )


HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
AccessTokensDep = Annotated[AccessTokens, Depends(get_access_tokens)]
ClientDep = Annotated[ClientInfo, Depends(get_client)]
SealerDep = Annotated[Sealer, Depends(get_sealer)]
FieldKeysDep = Annotated[FieldKeyRing, Depends(get_field_keys)]


async def current_principal(
    request: Request, tokens: AccessTokensDep, database: DatabaseDep
) -> Principal:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise InvalidSession("Send an access token: Authorization: Bearer <token>.")
    principals: PrincipalCache = request.app.state.principal_cache
    principal = await authenticate(
        access_token=credentials.strip(), tokens=tokens, database=database, principals=principals
    )
    # Per-user limits count only authenticated callers (a forged `sub` cannot drain them).
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    policy = declared_policy(request.scope)
    if limiter is not None and policy is not None:
        headers = await limiter.enforce(policy, scope="user", key=str(principal.user_id))
        add_response_headers(request.scope, headers)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through only callers whose roles grant `permission`."""

    async def check(
        principal: CurrentPrincipal, request: Request, database: DatabaseDep, client: ClientDep
    ) -> Principal:
        if permission not in principal.permissions:
            # Audited in a transaction of its own: the request itself writes nothing.
            async with UnitOfWork(database) as uow:
                denied = AuditRecord(
                    "authorization_denied",
                    "forbidden",
                    actor_user_id=principal.user_id,
                    details={
                        "permission": permission,
                        "method": request.method,
                        "route": getattr(request.scope.get("route"), "path", None),
                    },
                )
                await record(uow, denied, client)
                await uow.commit()
            raise PermissionDenied(f"This needs the {permission!r} permission.")
        return principal

    return check


async def principal_with(request: Request, permission: str) -> Principal:
    """For a public route that serves more to privileged callers (e.g. drafts to catalog
    editors): authenticate the request's bearer token here, and require `permission`."""
    principal = await current_principal(
        request, request.app.state.access_tokens, request.app.state.database
    )
    if permission not in principal.permissions:
        raise PermissionDenied(f"This needs the {permission!r} permission.")
    return principal
