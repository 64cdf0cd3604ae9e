"""Refunds: never more than was captured, whatever the concurrency."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from mercato.platform.config import normalise_database_url
from tests.integration.sandbox.conftest import Sandbox


async def test_concurrent_refunds_never_exceed_the_capture(sandbox: Sandbox) -> None:
    paid = await sandbox.paid_intent(amount=1_000)

    answers = await asyncio.gather(
        *(
            sandbox.api.post("/v1/refunds", json={"payment_intent": paid["id"], "amount": 300})
            for _ in range(12)
        )
    )

    accepted = [answer for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code != 200]
    assert len(accepted) == 3
    assert {answer.status_code for answer in refused} == {400}
    assert {answer.json()["error"]["code"] for answer in refused} == {"amount_too_large"}
    after = (await sandbox.api.get(f"/v1/payment_intents/{paid['id']}")).json()
    assert after["amount_refunded"] == 900
    books = (await sandbox.ledger(paid["reference"]))["EUR"]
    assert books["refunds"] == {"count": 3, "amount": 900}


async def test_a_refund_without_amount_takes_what_is_left_then_nothing_is(sandbox: Sandbox) -> None:
    paid = await sandbox.paid_intent(amount=1_000)
    partial = await sandbox.api.post(
        "/v1/refunds", json={"payment_intent": paid["id"], "amount": 250}
    )

    rest = await sandbox.api.post("/v1/refunds", json={"payment_intent": paid["id"]})
    nothing = await sandbox.api.post("/v1/refunds", json={"payment_intent": paid["id"]})

    assert partial.json()["amount"] == 250
    assert rest.json()["amount"] == 750
    assert rest.json()["status"] == "succeeded"
    assert rest.json()["currency"] == "EUR"
    assert nothing.status_code == 400
    assert nothing.json()["error"]["code"] == "charge_already_refunded"
    fetched = await sandbox.api.get(f"/v1/refunds/{rest.json()['id']}")
    assert fetched.json() == rest.json()
    deliveries = await sandbox.receiver.wait_for(
        lambda found: len(found) == 1, object_id=rest.json()["id"]
    )
    assert deliveries[0].event["type"] == "refund.succeeded"
    assert deliveries[0].event["data"]["object"]["amount"] == 750


async def test_only_captured_money_can_be_refunded(sandbox: Sandbox) -> None:
    unpaid = await sandbox.create_intent()
    held = await sandbox.create_intent(capture_method="manual")
    await sandbox.confirm(held["id"], "pm_card_visa")

    for intent in (unpaid, held):
        refused = await sandbox.api.post("/v1/refunds", json={"payment_intent": intent["id"]})
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "payment_intent_unexpected_state"
    missing = await sandbox.api.post("/v1/refunds", json={"payment_intent": "pi_" + "f" * 24})
    assert missing.status_code == 404


async def test_the_database_refuses_refunds_beyond_the_capture_as_a_last_guard(
    sandbox: Sandbox,
) -> None:
    paid = await sandbox.paid_intent(amount=1_000)
    engine = create_async_engine(normalise_database_url(sandbox.database_url))
    try:
        async with engine.begin() as connection:
            refused = await connection.execute(
                text(
                    "SELECT count(*) FROM pg_constraint"
                    " WHERE conname = 'ck_payment_intent_refunds_within_received'"
                )
            )
            assert refused.scalar_one() == 1
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError, match="refunds_within_received"):
                await connection.execute(
                    text("UPDATE sandbox.payment_intent SET amount_refunded = 1001 WHERE id = :id"),
                    {"id": paid["id"]},
                )
    finally:
        await engine.dispose()
