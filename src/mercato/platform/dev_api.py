"""Development-only routes: the mailbox of mail sent without SMTP (JSON, or a page with
clickable links for a browser) and the pages that complete identity's mail links
(`dev_pages`). Mounted in development on a loopback bind, or when `MERCATO_DEV_ROUTES=true`
(`Settings.serves_dev_routes`).

Unless they were asked for explicitly, they also answer only requests from this host that
no proxy forwarded (a loopback bind behind a local reverse proxy is public after all):
the mailbox holds every reset link sent without SMTP.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import select
from starlette.exceptions import HTTPException

from mercato.platform import dev_pages
from mercato.platform.auth import is_local_request, public
from mercato.platform.deps import DatabaseDep, runtime_of
from mercato.platform.http.operation_docs import OperationDoc, OperationDocs
from mercato.platform.mail import DevMail


async def _this_host_only(request: Request) -> None:
    """A plain 404 for other hosts and proxied requests, unless the routes were opted in."""
    if runtime_of(request.scope).settings.dev_routes is not True and not is_local_request(request):
        raise HTTPException(404)


router = APIRouter(prefix="/dev", tags=["development"], dependencies=[Depends(_this_host_only)])
dev_pages.add_pages(router)
TAG = {
    "name": "development",
    "description": (
        "Development only (a loopback bind, or MERCATO_DEV_ROUTES=true): the mailbox of mail"
        " sent without SMTP, and pages that complete the links in identity mails."
    ),
}
OPERATIONS: OperationDocs = {
    "development-mailbox": OperationDoc(
        response=[
            {
                "id": 7,
                "to": "ada@example.com",
                "subject": "Confirm your email address",
                "text": "Welcome to Mercato.\n\nConfirm your email address by opening this link"
                " within 24 hours:\nhttp://127.0.0.1:8000/dev/verify-email?token=vt_Qm9v\n",
                "html": None,
                "created_at": "2026-12-01T10:00:00Z",
            }
        ],
    )
}


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
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
)
async def mailbox(
    request: Request,
    database: DatabaseDep,
    to: Annotated[str | None, Query(max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[DevMailOut] | HTMLResponse:
    """The latest mail, newest first: JSON, or a page with clickable links when a browser
    asks (`Accept: text/html`)."""
    query = select(DevMail).order_by(DevMail.id.desc()).limit(limit)
    if to is not None:
        query = query.where(DevMail.recipient == to)
    async with database.read_session() as session:
        rows = (await session.scalars(query)).all()
    if "text/html" in request.headers.get("accept", ""):
        shown = [
            (row.recipient, row.subject, f"{row.created_at:%Y-%m-%d %H:%M:%S}", row.text)
            for row in rows
        ]
        return dev_pages.mailbox_page(shown, to=to)
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
