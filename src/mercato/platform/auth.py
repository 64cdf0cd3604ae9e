"""Who is calling, and may they: the caller's shape, owned by the kernel.

The kernel defines `Principal` and the `Authenticator` protocol (identity implements it:
token check, session check, audit of refusals), and the route policies as FastAPI
dependencies. One dependency both *enforces* a route's policy and *declares* it: the
OpenAPI security requirement and the route-policy test read the declaration off the very
object that runs, so the two cannot drift apart (Starlette's `authentication.py` and
Polar's `auth/dependencies.py` are the models).

    CatalogEditor = Annotated[Principal, Depends(require("catalog:write"))]

    @router.post("/products", dependencies=[rate_limited("default")])
    async def create(editor: CatalogEditor) -> ...

Each policy dependency also applies the route's rate-limit policy: per client IP before
anything else (a flood of forged tokens is refused before any token work), and per user
once the caller is known (a forged `sub` cannot drain someone else's budget).
"""

from __future__ import annotations

import hmac
import ipaddress
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from mercato.platform.db.database import read_own_writes
from mercato.platform.deps import runtime_of
from mercato.platform.errors import PermissionDenied, Unauthenticated
from mercato.platform.http.middleware import add_response_headers
from mercato.platform.http.policy import RATE_LIMIT_POLICIES, RateLimitPolicy
from mercato.platform.http.rate_limits import client_ip

PUBLIC = "public"
AUTHENTICATED = "authenticated"
OPERATOR = "operator"
BEARER_SCHEME = "bearerAuth"
OPERATOR_SCHEME = "operatorToken"
# Declares the scheme in OpenAPI (the `/docs` Authorize button); never refuses by itself.
bearer_scheme = HTTPBearer(
    scheme_name=BEARER_SCHEME,
    description="An access token from POST /api/v1/auth/login.",
    auto_error=False,
)
operator_scheme = HTTPBearer(
    scheme_name=OPERATOR_SCHEME,
    description="MERCATO_METRICS_TOKEN (without it, only scrapers on the API's own host).",
    auto_error=False,
)
# Headers a proxy adds: a request carrying one came through a proxy, not from this host.
_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    roles: tuple[str, ...]
    permissions: frozenset[str]


class Authenticator(Protocol):
    """Turns a bearer token into a `Principal` (identity implements it)."""

    async def authenticate(self, token: str) -> Principal:
        """The caller behind `token`; raises `Unauthenticated` (401) if there is none."""
        ...

    async def refused(self, request: Request, principal: Principal, permission: str) -> None:
        """A caller lacked `permission` (audited; the request itself is answered 403)."""
        ...


class ServiceTokens(Protocol):
    """Short-lived tokens for calls from this service to another (identity signs them with
    the API's keys; the callee checks them against the API's JWKS)."""

    def issue(self, *, service: str, audience: str, scopes: tuple[str, ...]) -> str:
        """A token saying `service` may do `scopes` at `audience`, valid for a minute."""
        ...


@dataclass(frozen=True, slots=True)
class Policy:
    """What a route declares: who may call it and its rate-limit policy."""

    auth: str  # "public", "authenticated", "operator" or "permission:<name>"
    rate_limit: RateLimitPolicy
    # Public, with privileged variants checked on demand (`OnDemandPolicy`).
    on_demand: bool = False

    @property
    def permission(self) -> str | None:
        kind, _, name = self.auth.partition(":")
        return name if kind == "permission" else None


class RoutePolicy:
    """A route's policy as a FastAPI dependency: it enforces `policy`, and carries it for
    the route walk; the subclasses differ in what they answer."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.policy.auth!r}, {self.policy.rate_limit.name!r})"


class PublicPolicy(RoutePolicy):
    async def __call__(self, request: Request) -> None:
        await _limit(request, self.policy, scope="ip", key=None)


class TokenPolicy(RoutePolicy):
    """Needs a bearer token (and a permission, if the policy names one). The `credentials`
    parameter is what puts the security requirement into the OpenAPI document."""

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> Principal:
        await _limit(request, self.policy, scope="ip", key=None)
        token = credentials.credentials.strip() if credentials is not None else None
        return await _authorise(request, self.policy, token=token)

    async def authorise(self, request: Request) -> Principal:
        """The same checks in the same order, the token read straight from the header: for
        routes answered without dependency solving (`platform.http.lean_routes`)."""
        await _limit(request, self.policy, scope="ip", key=None)
        return await _authorise(request, self.policy, token=_bearer_token(request))


class OperatorPolicy(RoutePolicy):
    """Operations data for the operators (metrics): with `MERCATO_METRICS_TOKEN` set, the
    caller sends it as a bearer token (401 otherwise); without one, only a request from
    this very host that no proxy forwarded is answered, and anyone else gets a plain 404."""

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(operator_scheme)],
    ) -> None:
        await _limit(request, self.policy, scope="ip", key=None)
        expected = runtime_of(request.scope).settings.metrics_token
        if expected is None:
            if not is_local_request(request):
                raise HTTPException(404)
            return
        presented = credentials.credentials.strip() if credentials is not None else ""
        if not hmac.compare_digest(presented.encode(), expected.get_secret_value().encode()):
            raise Unauthenticated("Send the operator token: Authorization: Bearer <token>.")


def is_local_request(request: Request) -> bool:
    """The peer is this machine (loopback) and no proxy forwarded the request: the test
    for what only the host's own tools may see when no token is configured."""
    if request.client is None or any(name in request.headers for name in _FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


class OnDemandPolicy(RoutePolicy):
    """A public route that serves more to privileged callers (drafts to catalog editors):
    rate-limited like any route, and the permission checked only when the route asks
    (`Escalation.require()`), so ordinary public reads never pay for a token check."""

    async def __call__(self, request: Request) -> Escalation:
        await _limit(request, self.policy, scope="ip", key=None)
        return Escalation(request, self.policy)


class Escalation:
    """The permission of an on-demand policy, checked when the route needs it."""

    def __init__(self, request: Request, policy: Policy) -> None:
        self._request = request
        self._policy = policy

    async def require(self) -> Principal:
        """The caller, who must hold the policy's permission (401 without a token)."""
        token = _bearer_token(self._request)
        return await _authorise(self._request, self._policy, token=token)


async def _authorise(request: Request, policy: Policy, *, token: str | None) -> Principal:
    if not token:
        raise Unauthenticated("Send an access token: Authorization: Bearer <token>.")
    runtime = runtime_of(request.scope)
    principal = await runtime.authenticator.authenticate(token)
    read_own_writes()
    await _limit(request, policy, scope="user", key=str(principal.user_id))
    permission = policy.permission
    if permission is not None and permission not in principal.permissions:
        await runtime.authenticator.refused(request, principal, permission)
        raise PermissionDenied(f"This needs the {permission!r} permission.")
    return principal


async def _limit(request: Request, policy: Policy, *, scope: str, key: str | None) -> None:
    """Count the request under the route's policy (per client IP, or per user)."""
    runtime = runtime_of(request.scope)
    limiter = runtime.rate_limiter
    if limiter is None:
        return
    if key is None:
        key = client_ip(request, runtime.settings.http)
    headers = await limiter.enforce(policy.rate_limit, scope=scope, key=key)
    add_response_headers(request.scope, headers)


def _bearer_token(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _rate_limit(name: str) -> RateLimitPolicy:
    if name not in RATE_LIMIT_POLICIES:
        raise ValueError(f"unknown rate-limit policy {name!r}")
    return RATE_LIMIT_POLICIES[name]


def public(rate_limit: str = "default") -> PublicPolicy:
    """Anyone may call; counted per client IP under `rate_limit`."""
    return PublicPolicy(Policy(PUBLIC, _rate_limit(rate_limit)))


def authenticated(rate_limit: str = "default") -> TokenPolicy:
    """Any signed-in caller (a valid access token of a live session)."""
    return TokenPolicy(Policy(AUTHENTICATED, _rate_limit(rate_limit)))


def require(permission: str, *, rate_limit: str = "default") -> TokenPolicy:
    """Callers whose roles grant `permission` (403 otherwise, audited)."""
    return TokenPolicy(Policy(f"permission:{permission}", _rate_limit(rate_limit)))


def operator(rate_limit: str = "operations") -> OperatorPolicy:
    """The operators' token, or this host only (see `OperatorPolicy`)."""
    return OperatorPolicy(Policy(OPERATOR, _rate_limit(rate_limit)))


def on_demand(permission: str, *, rate_limit: str = "default") -> OnDemandPolicy:
    """A public route whose privileged variants need `permission` (see `OnDemandPolicy`)."""
    return OnDemandPolicy(Policy(f"permission:{permission}", _rate_limit(rate_limit), True))


def policies_of(dependant: Any) -> list[Policy]:
    """Every policy a route's dependency tree declares (FastAPI's `Dependant`)."""
    found: list[Policy] = []
    if isinstance(dependant.call, RoutePolicy):
        found.append(dependant.call.policy)
    for child in dependant.dependencies:
        found.extend(policies_of(child))
    return found
