"""Identity's side of authentication: the kernel's `Authenticator` implemented (token and
session check, refusals audited), and the policies of identity's own routes.

Each alias both enforces and declares a route's policy (`mercato.platform.auth`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request

from mercato.identity import sessions
from mercato.identity.audit import AuditRecord, ClientInfo, record
from mercato.identity.services import IdentityServices
from mercato.platform.auth import Principal, authenticated, require
from mercato.platform.deps import runtime_of
from mercato.platform.http.rate_limits import client_ip, is_ip_address
from mercato.platform.runtime import Runtime
from mercato.platform.security.jwt import AccessTokens

READ_USERS = "users:read"
WRITE_USERS = "users:write"
READ_AUDIT = "audit:read"


class IdentityAuthenticator:
    """Bearer access tokens of live sessions (`sessions.authenticate`)."""

    def __init__(self, services: IdentityServices, *, runtime: Runtime) -> None:
        self._services = services
        self._runtime = runtime

    async def authenticate(self, token: str) -> Principal:
        return await sessions.authenticate(
            access_token=token, identity=self._services, database=self._runtime.database
        )

    async def refused(self, request: Request, principal: Principal, permission: str) -> None:
        # In a transaction of its own: the refused request itself writes nothing.
        async with self._runtime.unit_of_work() as uow:
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
            await record(uow, denied, client_of(request))
            await uow.commit()


class ServiceTokenIssuer:
    """Service tokens signed with the API's access-token keys (the callee checks them
    against `/.well-known/jwks.json`), valid for a minute."""

    TTL = dt.timedelta(seconds=60)

    def __init__(self, tokens: AccessTokens) -> None:
        self._tokens = tokens

    def issue(self, *, service: str, audience: str, scopes: tuple[str, ...]) -> str:
        return self._tokens.issue_service_token(
            service=service, audience=audience, scopes=scopes, ttl=self.TTL
        )


def client_of(request: Request) -> ClientInfo:
    """The caller's address (X-Forwarded-For only from a trusted proxy) and user agent."""
    ip = client_ip(request, runtime_of(request.scope).settings.http)
    return ClientInfo(
        ip=ip if is_ip_address(ip) else None, user_agent=request.headers.get("user-agent")
    )


async def get_client(request: Request) -> ClientInfo:
    return client_of(request)


async def get_identity(request: Request) -> IdentityServices:
    return runtime_of(request.scope).services(IdentityServices)


IdentityDep = Annotated[IdentityServices, Depends(get_identity)]
ClientDep = Annotated[ClientInfo, Depends(get_client)]

CurrentUser = Annotated[Principal, Depends(authenticated())]
UserReader = Annotated[Principal, Depends(require(READ_USERS))]
UserAdministrator = Annotated[Principal, Depends(require(WRITE_USERS))]
AuditReader = Annotated[Principal, Depends(require(READ_AUDIT))]
