"""Identity's background jobs: re-encrypting personal fields after a key rotation."""

from __future__ import annotations

import procrastinate
import structlog
from sqlalchemy import select, update

from mercato.identity.models import User
from mercato.identity.profile import phone_location
from mercato.identity.services import field_keys_file
from mercato.platform.db.database import Database
from mercato.platform.jobs.queue import JobRequest
from mercato.platform.jobs.runtime import dependencies_of
from mercato.platform.jobs.tasks import MAINTENANCE_QUEUE
from mercato.platform.security.fields import FieldKeyRing

NAMESPACE = "identity"
REENCRYPT_BATCH = 500
REENCRYPT_LOCK = "identity:reencrypt-fields"
logger = structlog.get_logger(__name__)


def blueprint() -> procrastinate.Blueprint:
    """A fresh blueprint of identity's tasks (see platform.jobs.tasks.blueprint)."""
    tasks = procrastinate.Blueprint()
    tasks.task(
        name="reencrypt_fields",
        queue=MAINTENANCE_QUEUE,
        pass_context=True,
        # One run at a time (a second run queued meanwhile finds little or nothing to do).
        lock=REENCRYPT_LOCK,
        retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=5),
    )(reencrypt_fields)
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
    """Rewrite every phone not under the current key; batches of rows, one transaction
    each, skipping rows another transaction holds (the next run gets them)."""
    total = 0
    while True:
        async with database.session() as session, session.begin():
            rows = (
                await session.execute(
                    select(User.id, User.phone_encrypted)
                    .where(
                        User.phone_encrypted.is_not(None),
                        User.phone_encrypted["kid"].astext != ring.current,
                    )
                    .limit(REENCRYPT_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for user_id, stored in rows:
                location = phone_location(user_id)
                plaintext = ring.decrypt(stored, location=location)  # missing key: fail closed
                await session.execute(
                    update(User)
                    .where(User.id == user_id)
                    .values(phone_encrypted=ring.encrypt(plaintext, location=location))
                )
        total += len(rows)
        if len(rows) < REENCRYPT_BATCH:
            logger.info("fields_reencrypted", field="identity_user.phone", count=total)
            return total
