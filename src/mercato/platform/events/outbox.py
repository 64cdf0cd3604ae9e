"""Writing to the outbox: inside the caller's transaction, never after it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson
from sqlalchemy import text

from mercato.platform.db.compiled import CompiledQuery, QueryCache
from mercato.platform.db.database import DriverRow
from mercato.platform.events.contracts import Envelope

# Relays LISTEN on this channel; PostgreSQL delivers the notification only at commit.
OUTBOX_CHANNEL = "mercato_outbox"

# The envelopes in one statement (every use case's commit sends it): the rows in the
# envelopes' order (`seq` orders an aggregate's events), and the relays' wake-up.
_STAGE = text(
    """
    WITH staged AS (
        INSERT INTO platform_outbox (id, name, version, aggregate_type, aggregate_id, envelope)
        SELECT CAST(e ->> 'id' AS uuid), e ->> 'name', CAST(e ->> 'version' AS integer),
               e ->> 'aggregate_type', e ->> 'aggregate_id', e
        FROM jsonb_array_elements(CAST(:envelopes AS jsonb)) WITH ORDINALITY AS t(e, n)
        ORDER BY n
    )
    SELECT pg_notify(:channel, '')
    """
).bindparams(channel=OUTBOX_CHANNEL)


class Transaction(Protocol):
    """Where the outbox is written: the unit of work's transaction."""

    @property
    def queries(self) -> QueryCache: ...

    async def fetch(self, query: CompiledQuery, values: Mapping[str, Any]) -> list[DriverRow]: ...


async def stage(transaction: Transaction, envelopes: Sequence[Envelope]) -> None:
    """Insert the envelopes into the outbox and wake the relays when the transaction commits."""
    if not envelopes:
        return
    rows = orjson.dumps([envelope.model_dump(mode="json") for envelope in envelopes])
    query = transaction.queries.get("platform.outbox.stage", lambda: _STAGE)
    await transaction.fetch(query, {"envelopes": rows.decode()})
