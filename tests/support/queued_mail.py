"""Mail queued by a test's requests, read back as the mail jobs would send it.

In a rolled-back test no worker runs: plain mails are still `platform:send_mail`'s
arguments, and account mails (links with a token) are rendered here by the job's own code
(`link_mails.account_mail`), which issues the token inside the test's transaction.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text

from mercato.identity.link_mails import TASK as ACCOUNT_MAIL
from mercato.identity.link_mails import account_mail
from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.mail import Mail

PLAIN_MAIL = "platform:send_mail"
_QUEUED = text(
    "SELECT task_name, args FROM procrastinate_jobs WHERE task_name IN (:plain, :account)"
    " ORDER BY id"
)


async def queued_mails(
    database: Database, settings: Settings, *, to: str | None = None
) -> list[Mail]:
    """Every mail queued so far (to `to` only, if given), oldest first."""
    async with database.session() as session:
        rows = (
            await session.execute(_QUEUED, {"plain": PLAIN_MAIL, "account": ACCOUNT_MAIL})
        ).all()
    mails: list[Mail] = []
    for task, args in rows:
        if task == PLAIN_MAIL:
            mail: Mail | None = Mail(
                to=args["to"], subject=args["subject"], text=args["text"], html=args["html"]
            )
        else:
            mail = await account_mail(
                database,
                settings,
                purpose=args["purpose"],
                email=args["email"],
                effect=uuid.UUID(args["effect_id"]),
            )
        if mail is not None and (to is None or mail.to == to):
            mails.append(mail)
    return mails
