"""Writing the security audit log, inside the use case's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import insert

from mercato.identity.models import AuditEntry
from mercato.platform.db.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is asking, as far as the transport can tell."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    action: str
    outcome: str
    actor_user_id: uuid.UUID | None = None
    target_user_id: uuid.UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)


async def record(uow: UnitOfWork, entry: AuditRecord, client: ClientInfo) -> None:
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    await uow.session.execute(
        insert(AuditEntry).values(
            action=entry.action,
            outcome=entry.outcome,
            actor_user_id=entry.actor_user_id,
            target_user_id=entry.target_user_id,
            ip=client.ip,
            user_agent=(client.user_agent or "")[:500] or None,
            request_id=request_id if isinstance(request_id, str) else None,
            details=entry.details,
        )
    )
