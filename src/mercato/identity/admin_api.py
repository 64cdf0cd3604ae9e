"""Administration of accounts: search, read, change status and roles, the audit log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from mercato.identity.dependencies import require
from mercato.identity.repository import (
    USER_SORT_FIELDS,
    USER_TIEBREAKER,
    IdentityRepository,
    user_search,
)
from mercato.identity.schemas import AdminUserOut, UserSearchParams
from mercato.platform.deps import DatabaseDep
from mercato.platform.errors import NotFound
from mercato.platform.http.policy import route_policy
from mercato.platform.listing import Page, Sort, fetch_page, link_header, next_page_url

router = APIRouter(prefix="/api/v1/admin", tags=["identity administration"])

READ_USERS = "users:read"


@router.get(
    "/users",
    response_model=Page[AdminUserOut],
    openapi_extra=route_policy(auth=f"permission:{READ_USERS}"),
    dependencies=[Depends(require(READ_USERS))],
)
async def search_users(
    *,
    params: Annotated[UserSearchParams, Query()],
    request: Request,
    response: Response,
    database: DatabaseDep,
) -> Page[AdminUserOut]:
    """Find accounts by a fragment of their email or name, filter, sort; keyset pages."""
    sort = Sort.parse(params.sort, allowed=USER_SORT_FIELDS, tiebreaker=USER_TIEBREAKER)
    async with database.read_session() as session:
        users = IdentityRepository(session)
        rows, cursor = await fetch_page(
            session,
            user_search(params.criteria()),
            sort=sort,
            cursor=params.cursor,
            limit=params.limit,
        )
        found = [row[0] for row in rows]
        roles = await users.roles_of_users(user.id for user in found)
    next_url = next_page_url(request.url, cursor)
    response.headers.update(link_header(next_url))
    return Page[AdminUserOut](
        items=[AdminUserOut.of(user, roles.get(user.id, [])) for user in found], next=next_url
    )


@router.get(
    "/users/{user_id}",
    response_model=AdminUserOut,
    openapi_extra=route_policy(auth=f"permission:{READ_USERS}"),
    dependencies=[Depends(require(READ_USERS))],
)
async def admin_user(user_id: uuid.UUID, database: DatabaseDep) -> AdminUserOut:
    """Any account, for staff and administrators."""
    async with database.read_session() as session:
        users = IdentityRepository(session)
        user = await users.user(user_id)
        if user is None:
            raise NotFound("There is no such user.")
        roles = await users.roles_of(user.id)
    return AdminUserOut.of(user, roles)
