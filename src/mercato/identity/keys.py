"""Rotating the access-token signing keys and the field-encryption keys."""

from __future__ import annotations

import datetime as dt

from mercato.identity.audit import AuditRecord, ClientInfo, record
from mercato.identity.config import IdentitySettings
from mercato.identity.services import field_keys_file, jwt_keys_file
from mercato.identity.tasks import reencrypt_fields_job
from mercato.platform.config import Settings
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.security.fields import FieldKeyRing
from mercato.platform.security.jwt import KeyRing

# Tokens signed by a retired key stay verifiable for their whole life, plus the leeway.
_RETIRED_SIGNING_KEY_GRACE = dt.timedelta(seconds=60)


async def rotate_keys(
    *, settings: Settings, uow: UnitOfWork, signing: bool, fields: bool
) -> dict[str, str]:
    """Rotate the chosen key rings on disk; audit it; queue the re-encryption of fields.

    Signing: the published `next` key becomes current (verifiers already know it), a new
    `next` is made, the old current is kept for the token lifetime. Fields: a new current
    key; the old ones stay readable until the re-encrypt job has rewritten every value.
    API processes load the rings at start: restart them (one at a time) after rotating.
    """
    rotated: dict[str, str] = {}
    if signing:
        ttl = dt.timedelta(seconds=settings.section(IdentitySettings).access_ttl_s)
        ring = KeyRing.load_or_create(jwt_keys_file(settings)).rotated(
            keep_previous_for=ttl + _RETIRED_SIGNING_KEY_GRACE
        )
        ring.save(jwt_keys_file(settings))
        rotated["signing"] = ring.current.kid
    if fields:
        field_ring = FieldKeyRing.load_or_create(field_keys_file(settings)).rotated()
        field_ring.save(field_keys_file(settings))
        rotated["fields"] = field_ring.current
    async with uow:
        await record(uow, AuditRecord("key_rotation", "ok", details=rotated), ClientInfo())
        if fields:
            uow.defer(reencrypt_fields_job())
        await uow.commit()
    return rotated
