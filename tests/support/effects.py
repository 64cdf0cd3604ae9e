"""Outside effects the worker crash test counts, one kind per class.

Each kind stages, inside a unit of work, one job with an outside effect and an effect id,
and counts afterwards how many times each effect id reached the outside. Mail (the dev
mailbox) is the first; merchant webhooks (a receiver stub server counting `webhook-id`s)
and provider calls (the sandbox counting idempotency keys) plug in here when they exist.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy import text

from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.jobs.tasks import send_mail_job
from mercato.platform.mail import Mail


class OutsideEffect(Protocol):
    name: str

    def stage(self, uow: UnitOfWork, *, key: str) -> uuid.UUID:
        """Defer one effect in `uow`; return its effect id."""
        ...

    async def deliveries(self, database: Database) -> dict[uuid.UUID, int]:
        """How many times each effect id reached the outside."""
        ...

    async def pending_jobs(self, database: Database) -> int:
        """Jobs of this kind not finished yet (todo or doing)."""
        ...


class MailEffect:
    """A mail per key, delivered to the dev mailbox (the worker runs without SMTP)."""

    name = "mail"

    def __init__(self, run: str) -> None:
        self._domain = f"{run}.crash.example.com"

    def stage(self, uow: UnitOfWork, *, key: str) -> uuid.UUID:
        job = send_mail_job(Mail(to=f"{key}@{self._domain}", subject="Welcome", text="Hello"))
        uow.defer(job)
        assert job.effect_id is not None
        return job.effect_id

    async def deliveries(self, database: Database) -> dict[uuid.UUID, int]:
        async with database.session() as session:
            rows = await session.execute(
                text(
                    "SELECT effect_id, count(*) FROM platform_dev_mailbox"
                    " WHERE recipient LIKE :pattern GROUP BY effect_id"
                ),
                {"pattern": f"%@{self._domain}"},
            )
            return {effect_id: int(count) for effect_id, count in rows}

    async def pending_jobs(self, database: Database) -> int:
        async with database.session() as session:
            count = await session.scalar(
                text(
                    "SELECT count(*) FROM procrastinate_jobs"
                    " WHERE task_name = 'platform:send_mail' AND status IN ('todo', 'doing')"
                )
            )
            return int(count or 0)
