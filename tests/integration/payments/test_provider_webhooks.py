"""Provider webhooks in: signed over the raw bytes, fresh, applied once, in any order."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any

import orjson
from sqlalchemy import text

from mercato.payments import provider_events
from tests.support.payments_service import WEBHOOK_SECRET, PaymentsService


def signed(body: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    stamp = at if at is not None else int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Sandbox-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"}


def event(payment: dict[str, Any], *, kind: str = "payment_intent.succeeded") -> bytes:
    return orjson.dumps(
        {
            "id": f"evt_test_{time.time_ns()}",
            "type": kind,
            "created": int(time.time()),
            "data": {"object": payment},
        }
    )


async def paid_at_the_sandbox(payments: PaymentsService) -> tuple[dict[str, Any], dict[str, Any]]:
    """An intent paid with a card that works, and the sandbox's payment object for it."""
    intent = await payments.create_intent()
    await payments.confirm(intent["id"], "pm_card_visa")
    found = await payments.sandbox.get("/v1/payment_intents", params={"reference": intent["id"]})
    return intent, found.json()["data"][0]


async def test_forged_and_stale_webhooks_are_refused(payments: PaymentsService) -> None:
    _, sandbox_payment = await paid_at_the_sandbox(payments)
    body = event(sandbox_payment)
    url = "/webhooks/sandbox"
    forged = await payments.api.post(url, content=body, headers=signed(body, secret="whsec_x" * 4))
    stale = await payments.api.post(
        url, content=body, headers=signed(body, at=int(time.time()) - 301)
    )
    tampered = await payments.api.post(url, content=body + b" ", headers=signed(body))
    assert (forged.status_code, stale.status_code, tampered.status_code) == (400, 400, 400)
    accepted = await payments.api.post(url, content=body, headers=signed(body))
    again = await payments.api.post(url, content=body, headers=signed(body))
    assert accepted.status_code == again.status_code == 200
    assert again.json()["duplicate"] is True
    unknown = await payments.api.post("/webhooks/stripe", content=body, headers=signed(body))
    assert unknown.status_code == 404


async def test_duplicated_and_reordered_deliveries_end_in_the_providers_state(
    payments: PaymentsService,
) -> None:
    await payments.faults(webhook_duplicates=True, webhook_out_of_order=True)
    intent = await payments.create_intent(amount=3_100)
    answer = await payments.confirm(intent["id"], "pm_card_async")
    assert answer.json()["status"] in {"processing", "succeeded"}
    final = await payments.settled(intent["id"], lambda i: i["status"] == "succeeded", seconds=20)
    assert final["status"] == "succeeded"
    assert (await payments.outbox(intent["id"])).count("payments.intent.succeeded") == 1
    assert (await payments.charges(intent["id"]))["charges"]["count"] == 1


async def test_one_event_delivered_many_times_at_once_is_stored_and_applied_once(
    payments: PaymentsService,
) -> None:
    intent, sandbox_payment = await paid_at_the_sandbox(payments)
    body = event(sandbox_payment)
    event_id = orjson.loads(body)["id"]
    answers = await asyncio.gather(
        *(
            payments.api.post("/webhooks/sandbox", content=body, headers=signed(body))
            for _ in range(10)
        )
    )
    assert [answer.status_code for answer in answers] == [200] * 10
    assert [answer.json()["duplicate"] for answer in answers].count(False) == 1
    stored = await payments.scalar(
        "SELECT count(*) FROM payments_provider_event WHERE event_id = :id", id=event_id
    )
    jobs = await payments.scalar(
        "SELECT count(*) FROM procrastinate_jobs"
        " WHERE task_name = 'payments:process_provider_event' AND args ->> 'event_id' = :id",
        id=event_id,
    )
    assert (stored, jobs) == (1, 1)
    settled = await payments.settled(intent["id"], lambda found: found["status"] == "succeeded")
    assert settled["status"] == "succeeded"
    assert (await payments.charges(intent["id"]))["charges"]["count"] == 1


async def test_applied_event_ids_are_kept_a_month_then_forgotten(
    payments: PaymentsService,
) -> None:
    """Dedup needs an event's id for at least the provider's retry horizon (3 days at
    Stripe): a month, and never the id of an event still waiting for its job."""
    prefix = f"evt_reap_{time.time_ns()}"
    rows = {"old_applied": (31, True), "young_applied": (4, True), "old_waiting": (31, False)}
    async with payments.runtime.database.session() as session, session.begin():
        for name, (age_days, applied) in rows.items():
            await session.execute(
                text(
                    "INSERT INTO payments_provider_event (provider, event_id, event_type,"
                    " payload, received_at, processed_at) VALUES ('sandbox', :id, 'x', '{}',"
                    " now() - make_interval(days => :age),"
                    " CASE WHEN :applied THEN now() END)"
                ),
                {"id": f"{prefix}_{name}", "age": age_days, "applied": applied},
            )
    assert await provider_events.forget_old_events(payments.runtime.unit_of_work) == 1
    async with payments.runtime.database.session() as session:
        kept = (
            await session.scalars(
                text(
                    "SELECT event_id FROM payments_provider_event WHERE event_id LIKE :p"
                    " ORDER BY event_id"
                ),
                {"p": f"{prefix}%"},
            )
        ).all()
    assert kept == [f"{prefix}_old_waiting", f"{prefix}_young_applied"]
