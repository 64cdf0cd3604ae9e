"""Development-only routes: mounted in development on a loopback bind, or when
`MERCATO_DEV_ROUTES=true` (`Settings.serves_dev_routes`).

Unless they were asked for explicitly, they also answer only requests from this host that
no proxy forwarded (a loopback bind behind a local reverse proxy is public after all):
the mailbox holds every reset link sent without SMTP.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import select
from starlette.exceptions import HTTPException

from mercato.platform.auth import is_local_request, public
from mercato.platform.deps import DatabaseDep, runtime_of
from mercato.platform.mail import DevMail


async def _this_host_only(request: Request) -> None:
    """A plain 404 for other hosts and proxied requests, unless the routes were opted in."""
    if runtime_of(request.scope).settings.dev_routes is not True and not is_local_request(request):
        raise HTTPException(404)


router = APIRouter(prefix="/dev", tags=["development"], dependencies=[Depends(_this_host_only)])


class DevMailOut(BaseModel):
    id: int
    to: str
    subject: str
    text: str
    html: str | None
    created_at: dt.datetime


@router.get(
    "/mailbox",
    response_model=list[DevMailOut],
    summary="Mail sent without SMTP",
    dependencies=[Depends(public())],
)
async def mailbox(
    database: DatabaseDep,
    to: Annotated[str | None, Query(max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[DevMailOut]:
    query = select(DevMail).order_by(DevMail.id.desc()).limit(limit)
    if to is not None:
        query = query.where(DevMail.recipient == to)
    async with database.read_session() as session:
        rows = (await session.scalars(query)).all()
    return [
        DevMailOut(
            id=row.id,
            to=row.recipient,
            subject=row.subject,
            text=row.text,
            html=row.html,
            created_at=row.created_at,
        )
        for row in rows
    ]
