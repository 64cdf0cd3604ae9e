"""What the provider really moved: charges (authorisations), captures and refunds.

Entries are written in the same transaction as the state change that moved the money, so
the ledger and the payment intents can never disagree; tests compare it with Mercato's own
books (one timeout-after-charge retried three times is still one charge).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import RowMapping, column, insert, select, table
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.sandbox.schema import LEDGER_VIEW, SCHEMA, ledger_entry


class EntryKind(StrEnum):
    CHARGE = "charge"
    CAPTURE = "capture"
    REFUND = "refund"


_PLURAL = {EntryKind.CHARGE: "charges", EntryKind.CAPTURE: "captures", EntryKind.REFUND: "refunds"}
_ledger = table(
    LEDGER_VIEW,
    column("currency"),
    column("kind"),
    column("reference"),
    column("count"),
    column("amount"),
    schema=SCHEMA,
)


async def record(
    connection: AsyncConnection, *, kind: EntryKind, intent: RowMapping, amount: int
) -> None:
    await connection.execute(
        insert(ledger_entry).values(
            kind=kind.value,
            payment_intent=intent["id"],
            reference=intent["reference"],
            amount=amount,
            currency=intent["currency"],
        )
    )


async def totals(connection: AsyncConnection, *, reference: str | None) -> dict[str, Any]:
    """`{"object": "ledger", "currencies": {"EUR": {"charges": {"count", "amount"}, …}}}`,
    for every payment or only those of one merchant reference."""
    query = select(_ledger.c.currency, _ledger.c.kind, _ledger.c.count, _ledger.c.amount)
    if reference is not None:
        query = query.where(_ledger.c.reference == reference)
    currencies: dict[str, dict[str, dict[str, int]]] = {}
    for row in (await connection.execute(query)).mappings():
        books = currencies.setdefault(
            row["currency"], {name: {"count": 0, "amount": 0} for name in _PLURAL.values()}
        )
        entry = books[_PLURAL[EntryKind(row["kind"])]]
        entry["count"] += int(row["count"])
        entry["amount"] += int(row["amount"])
    return {"object": "ledger", "currencies": currencies}
