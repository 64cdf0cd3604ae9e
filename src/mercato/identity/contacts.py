"""What other contexts may ask identity about a customer, without reading its tables: the
address to mail them at, and which accounts an address names (an administrator's search of
orders by email). Exported by `mercato.identity`; each is one indexed statement."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.identity.addresses import InvalidEmail, normalise_email
from mercato.identity.models import User


async def contact_email(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """The address of a live, active account (None: deleted or disabled, mail nothing)."""
    return await session.scalar(
        select(User.email).where(
            User.id == user_id, User.deleted_at.is_(None), User.status == "active"
        )
    )


async def accounts_with_email(session: AsyncSession, email: str) -> list[uuid.UUID]:
    """Every account, live or deleted, registered under `email` (normalised as at
    registration; an address that could never have registered names none)."""
    try:
        normalised = normalise_email(email)
    except InvalidEmail:
        return []
    return list(await session.scalars(select(User.id).where(User.email == normalised)))
