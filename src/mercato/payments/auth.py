"""Who may call the payments service, and the policies of its routes.

Callers prove who they are with tokens signed by the API's keys, checked against the API's
JWKS (fetched, cached, refreshed on an unknown key id): short-lived service tokens
(`aud=payments`, `sub=service:<name>`, `scope` listing what they may do) from the API's
checkout, and customers' own access tokens (`aud=mercato-api`) when they pay. A customer's
token is checked for its signature, issuer, audience and expiry; the session behind it
lives in the API (tokens live at most 15 minutes).
"""

from __future__ import annotations

import uuid
from typing import Annotated

import structlog
from fastapi import Depends, Request

from mercato.payments.config import PaymentsSettings
from mercato.payments.services import PaymentsServices
from mercato.platform.auth import Principal, authenticated, require
from mercato.platform.deps import runtime_of
from mercato.platform.errors import Unauthenticated
from mercato.platform.security.jwks import RemoteKeySet
from mercato.platform.security.jwt import InvalidToken, unverified_kid, verify_signed

logger = structlog.get_logger(__name__)

READ = "payments:read"
WRITE = "payments:write"  # create intents, capture, cancel, refund (the API's checkout)
ADMIN = "payments:admin"  # every intent, refunds, merchant webhook endpoints
PAY = "payments:pay"  # confirm and read one's own intents (customers)
SERVICE_SCOPES = frozenset({READ, WRITE})
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({READ, WRITE, ADMIN, PAY}),
    "staff": frozenset({READ}),
    "customer": frozenset({PAY}),
}
SERVICE_ROLE = "service"
_SERVICES = uuid.UUID("6d657263-6174-6f2d-7365-727669636573")  # uuid5 namespace of callers


class InvalidCaller(Unauthenticated):
    code = "invalid-token"
    title = "The access token is not valid"


class PaymentsAuthenticator:
    def __init__(self, settings: PaymentsSettings, keys: RemoteKeySet) -> None:
        self._settings = settings
        self._keys = keys

    async def authenticate(self, token: str) -> Principal:
        try:
            key = await self._keys.key(unverified_kid(token))
            if key is None:
                raise InvalidToken("unknown key")
            claims = verify_signed(
                token,
                key,
                issuer=self._settings.jwt_issuer,
                audiences=(self._settings.service_audience, self._settings.customer_audience),
            )
        except InvalidToken:
            raise InvalidCaller() from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if self._settings.service_audience in audiences:
            scopes = frozenset(str(claims.get("scope", "")).split()) & SERVICE_SCOPES
            return Principal(
                user_id=uuid.uuid5(_SERVICES, str(claims["sub"])),
                session_id=uuid.uuid5(_SERVICES, str(claims["jti"])),
                roles=(SERVICE_ROLE,),
                permissions=scopes,
            )
        try:
            user_id, session_id = uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["sid"]))
        except ValueError:
            raise InvalidCaller() from None
        roles = tuple(claims["roles"])
        permissions = frozenset().union(
            *(ROLE_PERMISSIONS.get(role, frozenset()) for role in roles)
        )
        return Principal(
            user_id=user_id, session_id=session_id, roles=roles, permissions=permissions
        )

    async def refused(self, request: Request, principal: Principal, permission: str) -> None:
        logger.warning(
            "authorization_denied",
            user_id=str(principal.user_id),
            permission=permission,
            method=request.method,
            route=getattr(request.scope.get("route"), "path", None),
        )


def is_service(principal: Principal) -> bool:
    return SERVICE_ROLE in principal.roles


async def get_payments(request: Request) -> PaymentsServices:
    return runtime_of(request.scope).services(PaymentsServices)


PaymentsDep = Annotated[PaymentsServices, Depends(get_payments)]
Caller = Annotated[Principal, Depends(authenticated())]
IntentWriter = Annotated[Principal, Depends(require(WRITE))]
IntentReader = Annotated[Principal, Depends(require(READ))]
PaymentsAdmin = Annotated[Principal, Depends(require(ADMIN))]
