"""Mails about an address's account, decided and rendered by a job: the verification and
reset links, and the "you already have an account" notice.

Two rules shape this module:

- **The link's token exists only in the mail.** Job arguments are stored (the job table)
  and logged by job libraries, so the request's transaction queues a job naming the
  address and what to mail, never a token. The job issues the token and renders the mail.
  The token is derived from the job's effect id under a key of the secret key (HMAC), and
  its row's id is that effect id: a job run again after a crash finds its token issued
  already and mails the same link, which the mailer shows once, instead of voiding the
  first link with a second one. (The effect id is not secret; without the secret key it
  yields no token.)
- **The request path does the same work whether or not the address has an account.**
  Forgot-password and resend-verification queue this job on every branch and look nothing
  up; the job decides (no account, or nothing to send: no mail). Register, which must create
  the account at once, queues it on both of its branches too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import uuid
from typing import TYPE_CHECKING, Final, Literal

import structlog

from mercato.identity import opaque_tokens
from mercato.identity.config import IdentitySettings
from mercato.identity.mail_templates import (
    MailLinks,
    already_registered_mail,
    reset_password_mail,
    verification_mail,
)
from mercato.identity.models import OneTimeToken, User
from mercato.identity.one_time_links import RESET_PASSWORD, VERIFY_EMAIL
from mercato.identity.repository import IdentityReads, IdentityRepository
from mercato.platform.clock import utc_now
from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.jobs.effects import new_effect_id
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.jobs.runtime import dependencies_of
from mercato.platform.jobs.tasks import MAIL_QUEUE
from mercato.platform.mail import Mail

# The job queue's library is imported where tasks are registered or run (workers):
# an API process only writes job rows (`jobs/queue.py`).
if TYPE_CHECKING:
    import procrastinate


logger = structlog.get_logger(__name__)

TASK = "identity:send_account_mail"
ALREADY_REGISTERED: Final = "already_registered"
Purpose = Literal["verify_email", "reset_password", "already_registered"]
_TOKEN_KEY_LABEL = b"mercato identity one-time links v1"


def account_mail_job(purpose: Purpose, *, email: str) -> JobRequest:
    """The job for `uow.defer(...)`: mail `email`'s account about `purpose`, if it has one
    (the arguments are the normalised address and the purpose, nothing secret)."""
    return JobRequest(
        task_name=TASK,
        queue=MAIL_QUEUE,
        args={"purpose": purpose, "email": email},
        effect_id=new_effect_id(),
    )


async def send_account_mail(
    context: procrastinate.JobContext, *, purpose: Purpose, email: str, effect_id: str
) -> None:
    dependencies = dependencies_of(context)
    effect = uuid.UUID(effect_id)
    mail = await account_mail(
        dependencies.database, dependencies.settings, purpose=purpose, email=email, effect=effect
    )
    if mail is None:
        logger.info("account_mail_not_needed", purpose=purpose, effect_id=effect_id)
        return
    await dependencies.mailer.send(mail, effect_id=effect)
    logger.info("mail_sent", purpose=purpose, effect_id=effect_id)


async def account_mail(
    database: Database, settings: Settings, *, purpose: Purpose, email: str, effect: uuid.UUID
) -> Mail | None:
    """The mail this job sends (None: no account, or nothing to say to it). The same mail
    on every run of one job: its link is the token issued by its first run."""
    links = MailLinks.for_settings(settings)
    if purpose == ALREADY_REGISTERED:
        async with database.read_session() as reader:
            user = await IdentityReads(reader).live_user_by_email(email)
        return already_registered_mail(to=email, links=links) if user is not None else None
    own = settings.section(IdentitySettings)
    ttl = _ttl(own, purpose)
    token = _token(settings, effect)
    async with database.session() as session, session.begin():
        issued = await session.get(OneTimeToken, effect)
        if issued is None:
            users = IdentityRepository(session)
            user = await users.live_user_by_email(email)
            if user is None or not _needs(purpose, user):
                return None
            await users.issue_one_time_token(
                token_id=effect,
                user_id=user.id,
                purpose=purpose,
                email=user.email,
                token_hash=opaque_tokens.digest(token),
                expires_at=utc_now() + ttl,
            )
        elif issued.purpose != purpose:  # an effect id is one job's: cannot happen
            raise ValueError("this effect id issued a token for another purpose")
    if purpose == VERIFY_EMAIL:
        return verification_mail(
            to=email, links=links, token=token, ttl_hours=own.verify_email_ttl_h
        )
    return reset_password_mail(
        to=email, links=links, token=token, ttl_minutes=own.reset_password_ttl_min
    )


def _needs(purpose: Purpose, user: User) -> bool:
    if user.status != "active":
        return False
    return purpose == RESET_PASSWORD or user.email_verified_at is None


def _ttl(settings: IdentitySettings, purpose: Purpose) -> dt.timedelta:
    if purpose == VERIFY_EMAIL:
        return dt.timedelta(hours=settings.verify_email_ttl_h)
    return dt.timedelta(minutes=settings.reset_password_ttl_min)


def _token(settings: Settings, effect: uuid.UUID) -> str:
    """The link's token for this job: as random as the key, the same on every run."""
    key = hmac.new(
        settings.secret_key.get_secret_value().encode(), _TOKEN_KEY_LABEL, hashlib.sha256
    ).digest()
    mac = hmac.new(key, effect.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
