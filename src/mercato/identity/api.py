"""Identity routes: registration, email verification, login, refresh, logout, me, JWKS."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, Header, Response

from mercato.identity import passwords, profile, registration, sessions, sign_in
from mercato.identity.auth import ClientDep, CurrentUser, IdentityDep
from mercato.identity.config import IdentitySettings
from mercato.identity.errors import InvalidSession
from mercato.identity.known_devices import DEVICE_TTL
from mercato.identity.known_devices import MAX_TOKEN_LENGTH as MAX_DEVICE_TOKEN_LENGTH
from mercato.identity.models import User
from mercato.identity.repository import IdentityReads
from mercato.identity.schemas import (
    AcceptedOut,
    ChangePasswordIn,
    DeleteAccountIn,
    EmailIn,
    LoginIn,
    LoginOut,
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
from mercato.platform.auth import Principal, public
from mercato.platform.concurrency import ExpectedVersion, version_etag
from mercato.platform.deps import DatabaseDep, UnitOfWorkDep
from mercato.platform.errors import NotFound
from mercato.platform.security.fields import FieldKeyRing
from mercato.platform.validation import SafeLine

router = APIRouter(prefix="/api/v1", tags=["identity"])
well_known = APIRouter(tags=["identity"])

REFRESH_COOKIE = "__Host-mercato_refresh"
DEVICE_COOKIE = "__Host-mercato_device"
REGISTERED = "If this address can receive mail, a message with the next step is on its way."


@router.post(
    "/auth/register",
    status_code=202,
    response_model=AcceptedOut,
    dependencies=[Depends(public("register"))],
)
async def register(
    *,
    body: RegisterIn,
    identity: IdentityDep,
    uow: UnitOfWorkDep,
    client: ClientDep,
) -> AcceptedOut:
    """Create an account. The answer is the same whether or not the email is taken."""
    await registration.register(
        email=body.email,
        password=body.password,
        name=body.name,
        identity=identity,
        uow=uow,
        client=client,
    )
    return AcceptedOut(detail=REGISTERED)


@router.post(
    "/auth/verify-email",
    status_code=204,
    dependencies=[Depends(public("email-token"))],
)
async def verify_email(body: VerifyEmailIn, uow: UnitOfWorkDep, client: ClientDep) -> Response:
    await registration.verify_email(token=body.token, uow=uow, client=client)
    return Response(status_code=204)


@router.post(
    "/auth/login",
    response_model=LoginOut,
    dependencies=[Depends(public("login"))],
)
async def login(
    *,
    body: LoginIn,
    identity: IdentityDep,
    uow: UnitOfWorkDep,
    client: ClientDep,
    response: Response,
    device_cookie: Annotated[
        str | None, Cookie(alias=DEVICE_COOKIE, max_length=MAX_DEVICE_TOKEN_LENGTH)
    ] = None,
) -> LoginOut:
    """Sign in. Send the `device_token` of an earlier sign-in (or the device cookie): failed
    attempts from elsewhere then never hold this client back."""
    signed_in = await sign_in.login(
        email=body.email,
        password=body.password,
        device_token=body.device_token or device_cookie,
        identity=identity,
        uow=uow,
        client=client,
    )
    if body.cookie:
        _set_refresh_cookie(response, signed_in.tokens.refresh_token, settings=identity.settings)
        # Browsers keep the device token where scripts cannot read it.
        response.set_cookie(
            DEVICE_COOKIE,
            signed_in.device_token,
            max_age=int(DEVICE_TTL.total_seconds()),
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )
    return LoginOut.from_signed_in(signed_in)


@router.post(
    "/auth/refresh",
    response_model=TokenOut,
    dependencies=[Depends(public("refresh"))],
)
async def refresh(
    *,
    identity: IdentityDep,
    uow: UnitOfWorkDep,
    client: ClientDep,
    response: Response,
    refresh_cookie: Annotated[SafeLine | None, Cookie(alias=REFRESH_COOKIE, max_length=200)] = None,
    body: RefreshIn | None = None,
) -> TokenOut:
    """Rotate the refresh token sent in the body, or else the one in the cookie."""
    presented = body.refresh_token if body is not None else refresh_cookie
    if presented is None:
        raise InvalidSession("Send the refresh token in the body, or sign in with cookie=true.")
    pair = await sessions.refresh(
        refresh_token=presented, identity=identity, uow=uow, client=client
    )
    if body is None:
        _set_refresh_cookie(response, pair.refresh_token, settings=identity.settings)
    return TokenOut.from_pair(pair)


def _set_refresh_cookie(response: Response, token: str, *, settings: IdentitySettings) -> None:
    # `__Host-`: the browser accepts it only Secure, for this exact host, on Path=/.
    response.set_cookie(
        REFRESH_COOKIE,
        token,
        max_age=settings.refresh_idle_days * 86_400,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


@router.post("/auth/logout", status_code=204)
async def logout(
    principal: CurrentUser, uow: UnitOfWorkDep, client: ClientDep, body: LogoutIn | None = None
) -> Response:
    scope = body.scope if body is not None else "local"
    await sessions.logout(principal=principal, scope=scope, uow=uow, client=client)
    signed_out = Response(status_code=204)
    signed_out.delete_cookie(
        REFRESH_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
    )
    return signed_out


@router.get(
    "/auth/sessions",
    response_model=list[SessionOut],
)
async def list_sessions(principal: CurrentUser, database: DatabaseDep) -> list[SessionOut]:
    """The caller's live sessions, most recently used first."""
    async with database.read_session() as session:
        live = await IdentityReads(session).live_sessions_of(principal.user_id)
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
)
async def revoke_session(
    session_id: uuid.UUID, principal: CurrentUser, uow: UnitOfWorkDep, client: ClientDep
) -> Response:
    """Sign out one of your sessions (another user's answers 404)."""
    await sessions.revoke_session(
        principal=principal, session_id=session_id, uow=uow, client=client
    )
    return Response(status_code=204)


@router.post(
    "/auth/resend-verification",
    status_code=202,
    response_model=AcceptedOut,
    dependencies=[Depends(public("email-token"))],
)
async def resend_verification(
    body: EmailIn, identity: IdentityDep, uow: UnitOfWorkDep, client: ClientDep
) -> AcceptedOut:
    """Send a new verification link; the answer is the same whatever the address."""
    await registration.resend_verification(
        email=body.email, identity=identity, uow=uow, client=client
    )
    return AcceptedOut(detail=REGISTERED)


@router.post(
    "/auth/password/forgot",
    status_code=202,
    response_model=AcceptedOut,
    dependencies=[Depends(public("email-token"))],
)
async def forgot_password(
    body: EmailIn, identity: IdentityDep, uow: UnitOfWorkDep, client: ClientDep
) -> AcceptedOut:
    """Mail a reset link; the answer is the same whether or not the account exists."""
    await passwords.forgot_password(email=body.email, identity=identity, uow=uow, client=client)
    return AcceptedOut(detail=REGISTERED)


@router.post(
    "/auth/password/reset",
    status_code=204,
    dependencies=[Depends(public("email-token"))],
)
async def reset_password(
    *,
    body: ResetPasswordIn,
    identity: IdentityDep,
    uow: UnitOfWorkDep,
    client: ClientDep,
) -> Response:
    """Set a new password from a reset link; every session is signed out."""
    await passwords.reset_password(
        token=body.token,
        new_password=body.new_password,
        identity=identity,
        uow=uow,
        client=client,
    )
    return Response(status_code=204)


@router.post("/users/me/password", status_code=204)
async def change_password(
    *,
    body: ChangePasswordIn,
    principal: CurrentUser,
    identity: IdentityDep,
    uow: UnitOfWorkDep,
    client: ClientDep,
) -> Response:
    """Change the password (the current one is required); other sessions are signed out."""
    await passwords.change_password(
        principal=principal,
        current_password=body.current_password,
        new_password=body.new_password,
        identity=identity,
        uow=uow,
        client=client,
    )
    return Response(status_code=204)


@router.get("/users/me", response_model=UserOut)
async def me(
    principal: CurrentUser, identity: IdentityDep, database: DatabaseDep, response: Response
) -> UserOut:
    """Your account; the ETag is what PATCH's If-Match wants."""
    async with database.read_session() as session:
        user = await IdentityReads(session).user(principal.user_id)
    if user is None:
        raise NotFound()
    response.headers["ETag"] = version_etag(user.version)
    return _user_out(user, principal, identity.field_keys)


@router.patch("/users/me", response_model=UserOut)
async def update_me(
    *,
    body: ProfilePatchIn,
    principal: CurrentUser,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
    identity: IdentityDep,
    uow: UnitOfWorkDep,
    response: Response,
) -> UserOut:
    """Change your name or phone (encrypted at rest). Needs If-Match or `version`."""
    user = await profile.update_profile(
        principal=principal,
        change=body.change(),
        expected=ExpectedVersion.from_request(if_match=if_match, body_version=body.version),
        uow=uow,
        field_keys=identity.field_keys,
    )
    response.headers["ETag"] = version_etag(user.version)
    return _user_out(user, principal, identity.field_keys)


@router.delete("/users/me", status_code=204)
async def delete_me(
    *,
    body: DeleteAccountIn,
    principal: CurrentUser,
    identity: IdentityDep,
    uow: UnitOfWorkDep,
    client: ClientDep,
) -> Response:
    """Delete your account (your password is required): every session ends, the email
    address can be registered again."""
    await profile.delete_account(
        principal=principal, password=body.password, uow=uow, hasher=identity.hasher, client=client
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
    dependencies=[Depends(public("operations"))],
)
async def jwks(identity: IdentityDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=300"
    return identity.tokens.ring.jwks()
