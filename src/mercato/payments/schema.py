"""What the payments service's schema holds: its own tables, and its copy of the platform's
(outbox, inbox, consumer positions, dead letters, idempotency keys; the job queue is
procrastinate's vendored SQL). The service's connections put the schema first on their
`search_path`, so the platform's code finds the service's copies under the usual names."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, Table

import mercato.payments.migrations
from mercato.payments.models import PaymentsBase
from mercato.platform.db.metadata import NAMING_CONVENTION
from mercato.platform.db.revisions import History
from mercato.platform.events.models import ConsumerPosition, DeadLetter, InboxEntry, OutboxMessage
from mercato.platform.idempotency import IdempotencyKey

SCHEMA = "payments"
HISTORY = History(
    Path(mercato.payments.migrations.__file__).parent,
    schema=SCHEMA,
    upgrade_command="mercato payments migrate up",
)
_PLATFORM_TABLES = (OutboxMessage, InboxEntry, ConsumerPosition, DeadLetter, IdempotencyKey)


def service_metadata() -> MetaData:
    """Every table the payments history migrates (Alembic's target, the drift test's)."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    for table in PaymentsBase.metadata.tables.values():
        table.to_metadata(metadata)
    for model in _PLATFORM_TABLES:
        platform_table = model.__table__
        assert isinstance(platform_table, Table)
        platform_table.to_metadata(metadata)
    return metadata
