"""Administration of accounts: search, read, change status and roles, the audit log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from mercato.identity.administration import change_account
from mercato.identity.auth import AuditReader, ClientDep, UserAdministrator, UserReader
from mercato.identity.repository import IdentityReads
from mercato.identity.schemas import (
    AdminUserOut,
    AdminUserPatchIn,
    AuditEntryOut,
    AuditSearchParams,
    UserSearchParams,
)
from mercato.identity.search import (
    AUDIT_SORT,
    USER_SORT_FIELDS,
    USER_TIEBREAKER,
    audit_search,
    encode_user_page,
    user_page,
)
from mercato.platform.auth import Principal
from mercato.platform.concurrency import ExpectedVersion, version_etag
from mercato.platform.deps import DatabaseDep, UnitOfWorkDep, runtime_of
from mercato.platform.errors import NotFound
from mercato.platform.http.lean_routes import QueryModel, lean
from mercato.platform.listing import Page, Sort, fetch_page, link_header, next_page_url

router = APIRouter(prefix="/api/v1/admin", tags=["identity administration"])


async def search_users(
    *,
    reader: UserReader,
    params: Annotated[UserSearchParams, Query()],
    request: Request,
    database: DatabaseDep,
) -> Response:
    """Find accounts by a fragment of their email or name, filter, sort; keyset pages."""
    sort = Sort.parse(params.sort, allowed=USER_SORT_FIELDS, tiebreaker=USER_TIEBREAKER)
    rows, cursor = await user_page(
        database, params.criteria(), sort=sort, cursor=params.cursor, limit=params.limit
    )
    next_url = next_page_url(request.url, cursor)
    return Response(
        encode_user_page(rows, next_url),
        media_type="application/json",
        headers=link_header(next_url),
    )


_SEARCH_PARAMS = QueryModel(UserSearchParams)


async def _answer_search(request: Request, reader: Principal) -> Response:
    # A lean route (`platform.http.lean_routes`): `search_users`' signature declares it,
    # and it runs with what FastAPI would have given it, without solving its dependencies.
    return await search_users(
        reader=reader,
        params=_SEARCH_PARAMS.parse(request.query_params),
        request=request,
        database=runtime_of(request.scope).database,
    )


router.add_api_route(
    "/users",
    search_users,
    methods=["GET"],
    response_model=Page[AdminUserOut],
    route_class_override=lean(_answer_search),
)


@router.get(
    "/users/{user_id}",
    response_model=AdminUserOut,
)
async def admin_user(
    user_id: uuid.UUID, reader: UserReader, database: DatabaseDep, response: Response
) -> AdminUserOut:
    """Any account, for staff and administrators; the ETag is what PATCH's If-Match wants."""
    async with database.read_session() as session:
        users = IdentityReads(session)
        user = await users.user(user_id)
        if user is None:
            raise NotFound("There is no such user.")
        roles = await users.roles_of(user.id)
    response.headers["ETag"] = version_etag(user.version)
    return AdminUserOut.of(user, roles)


@router.patch(
    "/users/{user_id}",
    response_model=AdminUserOut,
)
async def change_user(
    *,
    user_id: uuid.UUID,
    body: AdminUserPatchIn,
    actor: UserAdministrator,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
    uow: UnitOfWorkDep,
    client: ClientDep,
    response: Response,
) -> AdminUserOut:
    """Disable or enable an account, or set its roles (its sessions end).

    Needs `If-Match` (412 when stale) or `version` (409 when stale); 428 without either.
    """
    user, roles = await change_account(
        actor=actor,
        user_id=user_id,
        change=body.change(),
        expected=ExpectedVersion.from_request(if_match=if_match, body_version=body.version),
        uow=uow,
        client=client,
    )
    response.headers["ETag"] = version_etag(user.version)
    return AdminUserOut.of(user, roles)


@router.get(
    "/audit",
    response_model=Page[AuditEntryOut],
)
async def audit_log(
    *,
    reader: AuditReader,
    params: Annotated[AuditSearchParams, Query()],
    request: Request,
    response: Response,
    database: DatabaseDep,
) -> Page[AuditEntryOut]:
    """Security events, newest first, by actor, target, action and time."""
    async with database.read_session() as session:
        rows, cursor = await fetch_page(
            session,
            audit_search(params.criteria()),
            sort=AUDIT_SORT,
            cursor=params.cursor,
            limit=params.limit,
        )
    next_url = next_page_url(request.url, cursor)
    response.headers.update(link_header(next_url))
    return Page[AuditEntryOut](items=[AuditEntryOut.of(row[0]) for row in rows], next=next_url)
