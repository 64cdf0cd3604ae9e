"""Development-only routes (mounted only when MERCATO_ENV=development)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from mercato.platform.auth import public
from mercato.platform.deps import DatabaseDep
from mercato.platform.mail import DevMail

router = APIRouter(prefix="/dev", tags=["development"])


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
