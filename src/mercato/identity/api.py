"""Identity routes: registration, email verification, login, refresh, logout, me, JWKS."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Header, Response

from mercato.identity import profile, service
from mercato.identity.dependencies import (
    AccessTokensDep,
    ClientDep,
    CurrentPrincipal,
    FieldKeysDep,
    HasherDep,
    SealerDep,
)
from mercato.identity.errors import InvalidSession
from mercato.identity.models import User
from mercato.identity.repository import IdentityRepository
from mercato.identity.schemas import (
    AcceptedOut,
    ChangePasswordIn,
    DeleteAccountIn,
    EmailIn,
    LoginIn,
    LogoutIn,
    ProfilePatchIn,
    RefreshIn,
    RegisterIn,
    ResetPasswordIn,
    SessionOut,
    TokenOut,
    UserOut,
    VerifyEmailIn,
)
from mercato.identity.service import Principal
from mercato.platform.concurrency import ExpectedVersion, version_etag
from mercato.platform.config import Settings
from mercato.platform.deps import DatabaseDep, SettingsDep, UnitOfWorkDep
from mercato.platform.errors import NotFound
from mercato.platform.http.policy import AUTHENTICATED, PUBLIC, route_policy
from mercato.platform.security.fields import FieldKeyRing
from mercato.platform.validation import SafeLine

router = APIRouter(prefix="/api/v1", tags=["identity"])
well_known = APIRouter(tags=["identity"])

REFRESH_COOKIE = "__Host-mercato_refresh"
REGISTERED = "If this address can receive mail, a message with the next step is on its way."


@router.post(
    "/auth/register",
    status_code=202,
    response_model=AcceptedOut,
    openapi_extra=route_policy(auth=PUBLIC, rate_limit="register"),
)
async def register(
    *,
    body: RegisterIn,
    uow: UnitOfWorkDep,
    hasher: HasherDep,
    settings: SettingsDep,
    client: ClientDep,
) -> AcceptedOut:
    """Create an account. The answer is the same whether or not the email is taken."""
    await service.register(
        email=body.email,
        password=body.password,
        name=body.name,
        uow=uow,
        hasher=hasher,
        settings=settings.identity,
        client=client,
    )
    return AcceptedOut(detail=REGISTERED)


@router.post(
    "/auth/verify-email",
    status_code=204,
    openapi_extra=route_policy(auth=PUBLIC, rate_limit="email-token"),
)
async def verify_email(body: VerifyEmailIn, uow: UnitOfWorkDep, client: ClientDep) -> Response:
    await service.verify_email(token=body.token, uow=uow, client=client)
    return Response(status_code=204)


@router.post(
    "/auth/login",
    response_model=TokenOut,
    openapi_extra=route_policy(auth=PUBLIC, rate_limit="login"),
)
async def login(
    *,
    body: LoginIn,
    uow: UnitOfWorkDep,
    hasher: HasherDep,
    tokens: AccessTokensDep,
    settings: SettingsDep,
    client: ClientDep,
    response: Response,
) -> TokenOut:
    pair = await service.login(
        email=body.email,
        password=body.password,
        uow=uow,
        hasher=hasher,
        tokens=tokens,
        settings=settings.identity,
        client=client,
    )
    if body.cookie:
        _set_refresh_cookie(response, pair.refresh_token, settings=settings)
    return TokenOut.from_pair(pair)


@router.post(
    "/auth/refresh",
    response_model=TokenOut,
    openapi_extra=route_policy(auth=PUBLIC, rate_limit="refresh"),
)
async def refresh(
    *,
    uow: UnitOfWorkDep,
    tokens: AccessTokensDep,
    sealer: SealerDep,
    settings: SettingsDep,
    client: ClientDep,
    response: Response,
    refresh_cookie: Annotated[SafeLine | None, Cookie(alias=REFRESH_COOKIE, max_length=200)] = None,
    body: RefreshIn | None = None,
) -> TokenOut:
    """Rotate the refresh token sent in the body, or else the one in the cookie."""
    presented = body.refresh_token if body is not None else refresh_cookie
    if presented is None:
        raise InvalidSession("Send the refresh token in the body, or sign in with cookie=true.")
    pair = await service.refresh(
        refresh_token=presented,
        uow=uow,
        tokens=tokens,
        sealer=sealer,
        settings=settings.identity,
        client=client,
    )
    if body is None:
        _set_refresh_cookie(response, pair.refresh_token, settings=settings)
    return TokenOut.from_pair(pair)


def _set_refresh_cookie(response: Response, token: str, *, settings: Settings) -> None:
    # `__Host-`: the browser accepts it only Secure, for this exact host, on Path=/.
    response.set_cookie(
        REFRESH_COOKIE,
        token,
        max_age=settings.identity.refresh_idle_days * 86_400,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


@router.post("/auth/logout", status_code=204, openapi_extra=route_policy(auth=AUTHENTICATED))
async def logout(
    principal: CurrentPrincipal, uow: UnitOfWorkDep, client: ClientDep, body: LogoutIn | None = None
) -> Response:
    scope = body.scope if body is not None else "local"
    await service.logout(principal=principal, scope=scope, uow=uow, client=client)
    signed_out = Response(status_code=204)
    signed_out.delete_cookie(
        REFRESH_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
    )
    return signed_out


@router.get(
    "/auth/sessions",
    response_model=list[SessionOut],
    openapi_extra=route_policy(auth=AUTHENTICATED),
)
async def sessions(principal: CurrentPrincipal, database: DatabaseDep) -> list[SessionOut]:
    """The caller's live sessions, most recently used first."""
    async with database.read_session() as session:
        live = await IdentityRepository(session).live_sessions_of(principal.user_id)
    return [
        SessionOut(
            id=item.id,
            created_at=item.created_at,
            last_used_at=item.last_used_at,
            user_agent=item.user_agent,
            ip=str(item.ip) if item.ip is not None else None,
            current=item.id == principal.session_id,
        )
        for item in live
    ]


@router.delete(
    "/auth/sessions/{session_id}",
    status_code=204,
    openapi_extra=route_policy(auth=AUTHENTICATED),
)
async def revoke_session(
    session_id: uuid.UUID, principal: CurrentPrincipal, uow: UnitOfWorkDep, client: ClientDep
) -> Response:
    """Sign out one of your sessions (another user's answers 404)."""
    await service.revoke_session(principal=principal, session_id=session_id, uow=uow, client=client)
    return Response(status_code=204)


@router.post(
    "/auth/resend-verification",
    status_code=202,
    response_model=AcceptedOut,
    openapi_extra=route_policy(auth=PUBLIC, rate_limit="email-token"),
)
async def resend_verification(
    body: EmailIn, uow: UnitOfWorkDep, settings: SettingsDep, client: ClientDep
) -> AcceptedOut:
    """Send a new verification link; the answer is the same whatever the address."""
    await service.resend_verification(
        email=body.email, uow=uow, settings=settings.identity, client=client
    )
    return AcceptedOut(detail=REGISTERED)


@router.post(
    "/auth/password/forgot",
    status_code=202,
    response_model=AcceptedOut,
    openapi_extra=route_policy(auth=PUBLIC, rate_limit="email-token"),
)
async def forgot_password(
    body: EmailIn, uow: UnitOfWorkDep, settings: SettingsDep, client: ClientDep
) -> AcceptedOut:
    """Mail a reset link; the answer is the same whether or not the account exists."""
    await service.forgot_password(
        email=body.email, uow=uow, settings=settings.identity, client=client
    )
    return AcceptedOut(detail=REGISTERED)


@router.post(
    "/auth/password/reset",
    status_code=204,
    openapi_extra=route_policy(auth=PUBLIC, rate_limit="email-token"),
)
async def reset_password(
    *,
    body: ResetPasswordIn,
    uow: UnitOfWorkDep,
    hasher: HasherDep,
    settings: SettingsDep,
    client: ClientDep,
) -> Response:
    """Set a new password from a reset link; every session is signed out."""
    await service.reset_password(
        token=body.token,
        new_password=body.new_password,
        uow=uow,
        hasher=hasher,
        settings=settings.identity,
        client=client,
    )
    return Response(status_code=204)


@router.post("/users/me/password", status_code=204, openapi_extra=route_policy(auth=AUTHENTICATED))
async def change_password(
    *,
    body: ChangePasswordIn,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    hasher: HasherDep,
    settings: SettingsDep,
    client: ClientDep,
) -> Response:
    """Change the password (the current one is required); other sessions are signed out."""
    await service.change_password(
        principal=principal,
        current_password=body.current_password,
        new_password=body.new_password,
        uow=uow,
        hasher=hasher,
        settings=settings.identity,
        client=client,
    )
    return Response(status_code=204)


@router.get("/users/me", response_model=UserOut, openapi_extra=route_policy(auth=AUTHENTICATED))
async def me(
    principal: CurrentPrincipal, database: DatabaseDep, field_keys: FieldKeysDep, response: Response
) -> UserOut:
    """Your account; the ETag is what PATCH's If-Match wants."""
    async with database.read_session() as session:
        user = await IdentityRepository(session).user(principal.user_id)
    if user is None:
        raise NotFound()
    response.headers["ETag"] = version_etag(user.version)
    return _user_out(user, principal, field_keys)


@router.patch("/users/me", response_model=UserOut, openapi_extra=route_policy(auth=AUTHENTICATED))
async def update_me(
    *,
    body: ProfilePatchIn,
    principal: CurrentPrincipal,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
    uow: UnitOfWorkDep,
    field_keys: FieldKeysDep,
    response: Response,
) -> UserOut:
    """Change your name or phone (encrypted at rest). Needs If-Match or `version`."""
    user = await profile.update_profile(
        principal=principal,
        change=body.change(),
        expected=ExpectedVersion.from_request(if_match=if_match, body_version=body.version),
        uow=uow,
        field_keys=field_keys,
    )
    response.headers["ETag"] = version_etag(user.version)
    return _user_out(user, principal, field_keys)


@router.delete("/users/me", status_code=204, openapi_extra=route_policy(auth=AUTHENTICATED))
async def delete_me(
    *,
    body: DeleteAccountIn,
    principal: CurrentPrincipal,
    uow: UnitOfWorkDep,
    hasher: HasherDep,
    client: ClientDep,
) -> Response:
    """Delete your account (your password is required): every session ends, the email
    address can be registered again."""
    await profile.delete_account(
        principal=principal, password=body.password, uow=uow, hasher=hasher, client=client
    )
    return Response(status_code=204)


def _user_out(user: User, principal: Principal, field_keys: FieldKeyRing) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        name=user.name,
        phone=profile.phone_of(user, field_keys),
        roles=list(principal.roles),
        created_at=user.created_at,
        version=user.version,
    )


@well_known.get(
    "/.well-known/jwks.json",
    summary="Public keys that verify access tokens",
    openapi_extra=route_policy(auth=PUBLIC, rate_limit="operations"),
)
async def jwks(tokens: AccessTokensDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=300"
    return tokens.ring.jwks()
