"""Payment intents: create, confirm with a test card, authenticate, settle, capture, cancel.

Every change is a compare-and-set (`UPDATE … WHERE status IN (allowed)`), so two racing
requests cannot both move an intent, and the terminal states (succeeded, canceled) never
change status again. Money moved is written to the ledger and announced by a webhook event
in the same transaction as the change. Functions run inside the caller's transaction and
never commit.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mercato.sandbox import ledger
from mercato.sandbox.cards import AUTHENTICATION_FAILED, DECLINES, CardBehaviour
from mercato.sandbox.errors import ErrorType, SandboxError, not_found, unexpected_state
from mercato.sandbox.events import EventLog, payment_event_type
from mercato.sandbox.payment_methods import behaviour_of
from mercato.sandbox.resources import intent_json, new_id
from mercato.sandbox.schema import payment_intent

CONFIRMABLE = ("requires_payment_method", "requires_confirmation")
CANCELABLE = (
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "requires_capture",
)
_INTENT = "payment_intent"


@dataclass(frozen=True, slots=True)
class NewIntent:
    amount: int
    currency: str
    reference: str
    capture_method: str = "automatic"
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Confirmed:
    intent: RowMapping
    hold_s: float = 0.0  # answer only this long after the commit (timeout after charging)


def _authorised(intent: RowMapping) -> dict[str, Any]:
    """The card was charged: captured at once, or held for a later capture."""
    if intent["capture_method"] == "automatic":
        return {
            "status": "succeeded",
            "amount_received": intent["amount"],
            "amount_capturable": 0,
            "last_payment_error": None,
        }
    return {
        "status": "requires_capture",
        "amount_capturable": intent["amount"],
        "last_payment_error": None,
    }


def _failure(code_and_message: tuple[str, str]) -> dict[str, Any]:
    code, message = code_and_message
    return {
        "status": "requires_payment_method",
        "last_payment_error": {"code": code, "message": message},
    }


class PaymentIntents:
    """The use cases on payment intents; each runs inside the caller's transaction."""

    def __init__(
        self, *, events: EventLog, base_url: str, slow_answer_s: float, async_delay_s: float
    ) -> None:
        self._events = events
        self._base_url = base_url
        self._slow_answer_s = slow_answer_s
        self._async_delay_s = async_delay_s

    def as_json(self, intent: RowMapping) -> dict[str, Any]:
        return intent_json(intent, base_url=self._base_url)

    async def create(self, connection: AsyncConnection, new: NewIntent) -> RowMapping:
        result = await connection.execute(
            insert(payment_intent)
            .values(
                id=new_id("pi"),
                reference=new.reference,
                amount=new.amount,
                currency=new.currency,
                capture_method=new.capture_method,
                status="requires_payment_method",
                metadata=dict(new.metadata),
            )
            .returning(*payment_intent.c)
        )
        return result.mappings().one()

    async def get(self, connection: AsyncConnection, intent_id: str) -> RowMapping:
        result = await connection.execute(
            select(payment_intent).where(payment_intent.c.id == intent_id)
        )
        intent = result.mappings().first()
        if intent is None:
            raise not_found(_INTENT)
        return intent

    async def find_by_reference(
        self, connection: AsyncConnection, reference: str
    ) -> list[RowMapping]:
        """Newest first: reconciliation after a create whose answer was lost."""
        result = await connection.execute(
            select(payment_intent)
            .where(payment_intent.c.reference == reference)
            .order_by(payment_intent.c.created_at.desc(), payment_intent.c.id)
            .limit(100)
        )
        return list(result.mappings())

    async def confirm(
        self,
        connection: AsyncConnection,
        intent_id: str,
        *,
        payment_method: str,
        return_url: str | None,
    ) -> Confirmed:
        intent = await self.get(connection, intent_id)
        if intent["status"] not in CONFIRMABLE:
            raise unexpected_state(_INTENT, intent["status"], "confirm")
        behaviour = await behaviour_of(connection, payment_method)
        values: dict[str, Any] = {"payment_method": payment_method}
        hold_s = 0.0
        if behaviour is CardBehaviour.PROCESSING_ERROR:
            # Nothing happens, nothing is kept: the processor itself failed.
            raise SandboxError(
                500,
                "processing_error",
                "An error occurred while processing the card.",
                type_=ErrorType.API,
            )
        if behaviour in DECLINES:
            values |= _failure(DECLINES[behaviour])
        elif behaviour is CardBehaviour.THREE_DS:
            values |= {
                "status": "requires_action",
                "action_token": secrets.token_urlsafe(24),
                "return_url": return_url,
            }
        elif behaviour is CardBehaviour.ASYNC:
            values |= {
                "status": "processing",
                "settles_at": func.now() + dt.timedelta(seconds=self._async_delay_s),
            }
        else:
            values |= _authorised(intent)
            if behaviour is CardBehaviour.TIMEOUT_AFTER_CHARGE:
                hold_s = self._slow_answer_s
        changed = await self._transition(
            connection, intent_id, allowed=CONFIRMABLE, values=values, action="confirm"
        )
        await self._announce(connection, changed)
        return Confirmed(changed, hold_s=hold_s)

    async def complete_action(
        self, connection: AsyncConnection, token: str, *, approve: bool
    ) -> RowMapping:
        """The customer approved or declined at the 3-D Secure stand-in page."""
        result = await connection.execute(
            select(payment_intent).where(payment_intent.c.action_token == token)
        )
        intent = result.mappings().first()
        if intent is None:
            raise not_found("action", param="token")
        values = _authorised(intent) if approve else _failure(AUTHENTICATION_FAILED)
        changed = await self._transition(
            connection,
            intent["id"],
            allowed=("requires_action",),
            values=values,
            action="authenticate",
        )
        await self._announce(connection, changed)
        return changed

    async def capture(
        self, connection: AsyncConnection, intent_id: str, *, amount: int | None
    ) -> RowMapping:
        intent = await self.get(connection, intent_id)
        to_capture = amount if amount is not None else intent["amount_capturable"]
        changed = await self._compare_and_set(
            connection,
            intent_id,
            allowed=("requires_capture",),
            values={"status": "succeeded", "amount_received": to_capture, "amount_capturable": 0},
            also=(payment_intent.c.amount_capturable >= to_capture,),
        )
        if changed is None:
            current = await self.get(connection, intent_id)
            if current["status"] != "requires_capture":
                raise unexpected_state(_INTENT, current["status"], "capture")
            raise SandboxError(
                400,
                "amount_too_large",
                "The amount to capture exceeds the amount capturable.",
                param="amount_to_capture",
            )
        await ledger.record(
            connection, kind=ledger.EntryKind.CAPTURE, intent=changed, amount=to_capture
        )
        await self._emit(connection, changed)
        return changed

    async def cancel(self, connection: AsyncConnection, intent_id: str) -> RowMapping:
        changed = await self._transition(
            connection,
            intent_id,
            allowed=CANCELABLE,
            values={"status": "canceled", "amount_capturable": 0, "settles_at": None},
            action="cancel",
        )
        await self._emit(connection, changed)
        return changed

    async def settle_due(self, connection: AsyncConnection, *, limit: int = 100) -> int:
        """Asynchronous payments whose time has come succeed (or wait for capture)."""
        due = await connection.execute(
            select(payment_intent)
            .where(
                payment_intent.c.status == "processing", payment_intent.c.settles_at <= func.now()
            )
            .order_by(payment_intent.c.settles_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        settled = 0
        for intent in list(due.mappings()):
            values = _authorised(intent) | {"settles_at": None}
            changed = await self._transition(
                connection, intent["id"], allowed=("processing",), values=values, action="settle"
            )
            await self._announce(connection, changed)
            settled += 1
        return settled

    async def _transition(
        self,
        connection: AsyncConnection,
        intent_id: str,
        *,
        allowed: Collection[str],
        values: Mapping[str, Any],
        action: str,
    ) -> RowMapping:
        """The change, or a 400 naming the status that forbids it (404 if no such intent)."""
        changed = await self._compare_and_set(connection, intent_id, allowed=allowed, values=values)
        if changed is None:
            current = await self.get(connection, intent_id)
            raise unexpected_state(_INTENT, current["status"], action)
        return changed

    async def _compare_and_set(
        self,
        connection: AsyncConnection,
        intent_id: str,
        *,
        allowed: Collection[str],
        values: Mapping[str, Any],
        also: tuple[ColumnElement[bool], ...] = (),
    ) -> RowMapping | None:
        """`UPDATE … WHERE status IN (allowed)`: None when the intent was not there."""
        result = await connection.execute(
            update(payment_intent)
            .where(payment_intent.c.id == intent_id, payment_intent.c.status.in_(allowed), *also)
            .values(**values, updated_at=func.now())
            .returning(*payment_intent.c)
        )
        return result.mappings().first()

    async def _announce(self, connection: AsyncConnection, changed: RowMapping) -> None:
        """The ledger entries of an authorisation (if it was one) and the webhook."""
        if changed["status"] in {"succeeded", "requires_capture"}:
            await ledger.record(
                connection, kind=ledger.EntryKind.CHARGE, intent=changed, amount=changed["amount"]
            )
            if changed["status"] == "succeeded":
                await ledger.record(
                    connection,
                    kind=ledger.EntryKind.CAPTURE,
                    intent=changed,
                    amount=changed["amount_received"],
                )
        await self._emit(connection, changed)

    async def _emit(self, connection: AsyncConnection, changed: RowMapping) -> None:
        await self._events.emit(
            connection,
            event_type=payment_event_type(changed["status"]),
            data_object=self.as_json(changed),
        )
