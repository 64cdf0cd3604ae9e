"""Publishing a catalog change: the event for other processes and contexts, and the note
for this process's commit listeners (cached reads retire right after the commit)."""

from __future__ import annotations

import uuid

from mercato.catalog.cache import CATALOG_CHANGED
from mercato.catalog.events import CategoryChanged, ProductChanged
from mercato.platform.db.changes import changes_of
from mercato.platform.db.uow import UnitOfWork


def publish_change(
    uow: UnitOfWork, event: ProductChanged | CategoryChanged, *, aggregate_id: uuid.UUID
) -> None:
    changes_of(uow.session).note(CATALOG_CHANGED, aggregate_id)
    uow.publish(event, aggregate_id=aggregate_id)
