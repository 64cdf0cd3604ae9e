"""Identity's background jobs: re-encrypting personal fields after a key rotation, and the
mails that carry a secret, rendered in the job (job arguments are stored and logged): the
sign-in link (from the account's id) and the verification and reset links (`link_mails`)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import structlog

from mercato.identity import throttle
from mercato.identity.known_devices import LINK_TTL, KnownDevices
from mercato.identity.link_mails import send_account_mail
from mercato.identity.mail_templates import MailLinks, sign_in_link_mail
from mercato.identity.models import User
from mercato.identity.profile import phone_location
from mercato.identity.repository import IdentityReads
from mercato.identity.services import field_keys_file
from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.jobs.runtime import dependencies_of
from mercato.platform.jobs.tasks import MAIL_QUEUE, MAINTENANCE_QUEUE, send_mail
from mercato.platform.mail import Mail
from mercato.platform.security.fields import FieldKeyRing
from mercato.platform.security.reencryption import reencrypt_column

# The job queue's library is imported where tasks are registered or run (workers):
# an API process only writes job rows (`jobs/queue.py`).
if TYPE_CHECKING:
    import procrastinate


NAMESPACE = "identity"
REENCRYPT_LOCK = "identity:reencrypt-fields"
logger = structlog.get_logger(__name__)


def blueprint() -> procrastinate.Blueprint:
    """A fresh blueprint of identity's tasks (see platform.jobs.tasks.blueprint)."""
    import procrastinate

    tasks = procrastinate.Blueprint()
    tasks.task(
        name="reencrypt_fields",
        queue=MAINTENANCE_QUEUE,
        pass_context=True,
        # One run at a time (a second run queued meanwhile finds little or nothing to do).
        lock=REENCRYPT_LOCK,
        retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=5),
    )(reencrypt_fields)
    tasks.task(
        name="send_account_mail",
        queue=MAIL_QUEUE,
        pass_context=True,
        # As platform:send_mail: rides out an SMTP restart, gives up after ~8.5 minutes.
        retry=procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2),
    )(send_account_mail)
    tasks.task(
        name="send_sign_in_link",
        queue=MAIL_QUEUE,
        pass_context=True,
        retry=procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2),
    )(send_sign_in_link)
    tasks.periodic(cron="29 * * * *", periodic_id="reap-login-throttle")(
        tasks.task(name="reap_login_throttle", queue=MAINTENANCE_QUEUE, pass_context=True)(
            reap_login_throttle
        )
    )
    # Daily as well, for values written by processes that still had the old ring loaded.
    tasks.periodic(cron="41 3 * * *", periodic_id="reencrypt-fields")(
        tasks.task(name="reencrypt_fields_daily", queue=MAINTENANCE_QUEUE, pass_context=True)(
            reencrypt_fields_daily
        )
    )
    return tasks


def reencrypt_fields_job() -> JobRequest:
    return JobRequest(
        task_name=f"{NAMESPACE}:reencrypt_fields",
        queue=MAINTENANCE_QUEUE,
        args={},
        lock=REENCRYPT_LOCK,
    )


async def reencrypt_fields(context: procrastinate.JobContext) -> int:
    dependencies = dependencies_of(context)
    # Read the ring from disk: `mercato keys rotate` may have changed it since start-up.
    ring = FieldKeyRing.load(field_keys_file(dependencies.settings))
    return await reencrypt_phones(dependencies.database, ring)


async def reencrypt_fields_daily(context: procrastinate.JobContext, timestamp: int) -> int:
    return await reencrypt_fields(context)


async def reencrypt_phones(database: Database, ring: FieldKeyRing) -> int:
    """Rewrite every phone not under the current key (`reencrypt_column`)."""
    return await reencrypt_column(
        database, ring, row_id=User.id, column=User.phone_encrypted, location=phone_location
    )


async def reap_login_throttle(context: procrastinate.JobContext, timestamp: int) -> int:
    """Hourly: forget sign-in counters quiet for a day (every sign-in claims a row per
    client key, so the table would otherwise keep every address that ever signed in)."""
    removed = await throttle.forget_quiet_keys(dependencies_of(context).database)
    logger.info("login_throttle_reaped", removed=removed)
    return removed


def sign_in_link_job(user_id: uuid.UUID) -> JobRequest:
    """Mail the owner a sign-in link; the arguments name the account, never the token."""
    return JobRequest(
        task_name=f"{NAMESPACE}:send_sign_in_link",
        queue=MAIL_QUEUE,
        args={"user_id": str(user_id)},
    )


async def send_sign_in_link(context: procrastinate.JobContext, *, user_id: str) -> None:
    dependencies = dependencies_of(context)
    mail = await sign_in_link_mail_for(
        dependencies.database, dependencies.settings, uuid.UUID(user_id)
    )
    if mail is not None:
        await send_mail(context, to=mail.to, subject=mail.subject, text=mail.text, html=None)


async def sign_in_link_mail_for(
    database: Database, settings: Settings, user_id: uuid.UUID
) -> Mail | None:
    """The link's mail, with a fresh short-lived device token (None if the account is gone
    or inactive by now)."""
    async with database.read_session() as session:
        user = await IdentityReads(session).user(user_id)
    if user is None or user.status != "active":
        return None
    devices = KnownDevices(settings.secret_key.get_secret_value().encode())
    return sign_in_link_mail(
        to=user.email,
        links=MailLinks.for_settings(settings),
        device_token=devices.issue(user.id, ttl=LINK_TTL),
        ttl_minutes=int(LINK_TTL.total_seconds() // 60),
    )
