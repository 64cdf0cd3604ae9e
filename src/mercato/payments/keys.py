"""Rotating the payments service's field-encryption key (merchant endpoints' secrets)."""

from __future__ import annotations

from mercato.payments.startup import field_keys_path
from mercato.payments.tasks import reencrypt_fields_job
from mercato.platform.config import Settings
from mercato.platform.db.database import Database
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.security.fields import FieldKeyRing


async def rotate_field_keys(settings: Settings) -> str:
    """A new current key in the ring's file, and the re-encryption job queued; the new
    key id. The old keys stay in the ring (values under them still read); running
    processes pick the new ring up from the file on their next use of it."""
    path = field_keys_path(settings)
    ring = FieldKeyRing.load_or_create(path).rotated()
    ring.save(path)
    database = Database.from_settings(settings.database)
    try:
        async with UnitOfWork(database) as uow:
            uow.defer(reencrypt_fields_job())
            await uow.commit()
    finally:
        await database.dispose()
    return ring.current
