"""Re-encrypting a column of encrypted fields under the ring's current key, after a
rotation (`fields.py`): what lets the old key be dropped one day.

Batches of rows, one transaction each; rows another transaction holds are skipped (the next
run gets them), so a long re-encryption never blocks the application's writes for long. A
value whose key is missing fails closed (`MissingFieldKey`): it is never rewritten blank.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from mercato.platform.db.database import Database
from mercato.platform.security.fields import FieldKeyRing, FieldLocation

BATCH = 500
logger = structlog.get_logger(__name__)


async def reencrypt_column(
    database: Database,
    ring: FieldKeyRing,
    *,
    row_id: InstrumentedAttribute[Any],
    column: InstrumentedAttribute[Any],
    location: Callable[[Any], FieldLocation],
    batch: int = BATCH,
) -> int:
    """Rewrite every value of `column` (JSONB, nullable) not under `ring.current`; `location`
    gives a row's associated data from its id. How many values were rewritten."""
    model = column.class_
    name = f"{model.__tablename__}.{column.key}"
    total = 0
    while True:
        async with database.session() as session, session.begin():
            rows = (
                await session.execute(
                    select(row_id, column)
                    .where(column.is_not(None), column["kid"].astext != ring.current)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for identifier, stored in rows:
                where = location(identifier)
                plaintext = ring.decrypt(stored, location=where)  # missing key: fail closed
                await session.execute(
                    update(model)
                    .where(row_id == identifier)
                    .values({column.key: ring.encrypt(plaintext, location=where)})
                )
        total += len(rows)
        if len(rows) < batch:
            logger.info("fields_reencrypted", field=name, count=total)
            return total
