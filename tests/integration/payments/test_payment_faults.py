"""Faults that must lose nothing: a charge whose answer is lost, a provider that fails, a
customer who must authenticate, concurrent refunds; checked against what the sandbox
really moved (its ledger) and what we published."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx

from tests.support.payments_service import PaymentsService


def settled(intent: dict[str, Any]) -> bool:
    return intent["status"] in {"succeeded", "requires_payment_method", "canceled"}


async def test_a_charge_whose_answer_is_lost_is_found_and_counted_once(
    payments: PaymentsService,
) -> None:
    """The sandbox charges, then answers after the caller gave up (timeout after charge):
    the attempt is UNKNOWN, retried with its key or reconciled; one charge either way."""
    intent = await payments.create_intent(amount=1_300)
    answer = await payments.confirm(intent["id"], "pm_card_timeout_after_charge")
    assert answer.status_code == 200, answer.text
    final = await payments.settled(intent["id"], settled, seconds=20)
    assert final["status"] == "succeeded"
    books = await payments.charges(intent["id"])
    assert books["charges"]["count"] == 1
    assert books["captures"]["amount"] == 1_300
    events = await payments.outbox(intent["id"])
    assert events.count("payments.intent.succeeded") == 1


async def test_a_provider_error_before_any_charge_leaves_the_intent_payable(
    payments: PaymentsService,
) -> None:
    intent = await payments.create_intent()
    failed = await payments.confirm(intent["id"], "pm_card_processing_error")
    # 500s on every try: the outcome is unknown; the reconciler asks and finds no charge.
    assert failed.status_code == 200, failed.text
    final = await payments.settled(
        intent["id"], lambda i: i["status"] == "requires_payment_method", seconds=20
    )
    assert final["status"] == "requires_payment_method"
    assert (await payments.charges(intent["id"])).get("charges", {}).get("count", 0) == 0
    paid = await payments.confirm(intent["id"], "pm_card_visa")
    assert paid.json()["status"] == "succeeded"


async def test_three_d_secure_completes_through_the_provider_webhook(
    payments: PaymentsService,
) -> None:
    intent = await payments.create_intent()
    answer = await payments.confirm(intent["id"], "pm_card_threeds")
    assert answer.json()["status"] == "requires_action"
    redirect = answer.json()["next_action"]["redirect_url"]
    token = redirect.rstrip("/").rsplit("/", 1)[1]
    approved = await payments.sandbox.post(f"/v1/actions/{token}", json={"outcome": "approve"})
    assert approved.status_code == 200, approved.text
    final = await payments.settled(intent["id"], lambda i: i["status"] == "succeeded")
    assert final["status"] == "succeeded"
    assert await payments.outbox(intent["id"]) == [
        "payments.intent.requires_action",
        "payments.intent.succeeded",
    ]


async def test_manual_capture_in_part_then_refunds_never_exceed_it(
    payments: PaymentsService,
) -> None:
    intent = await payments.create_intent(amount=10_000, capture_method="manual")
    authorised = await payments.confirm(intent["id"], "pm_card_visa")
    assert authorised.json()["status"] == "requires_capture"
    captured = await payments.api.post(
        f"/api/v1/payment_intents/{intent['id']}/capture",
        json={"amount": 6_000},
        headers=payments.service_headers(),
    )
    assert captured.status_code == 200, captured.text
    assert captured.json()["status"] == "succeeded"
    assert captured.json()["amount_received"] == 6_000

    async def refund(amount: int) -> httpx.Response:
        return await payments.api.post(
            f"/api/v1/payment_intents/{intent['id']}/refunds",
            json={"amount": amount},
            headers=payments.service_headers(key=secrets.token_hex(8)),
        )

    answers = await asyncio.gather(*(refund(1_000) for _ in range(10)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes.count(201) == 6
    assert set(codes) == {201, 409}
    after = await payments.intent(intent["id"])
    assert after["amount_refunded"] == 6_000
    books = await payments.charges(intent["id"])
    assert books["refunds"]["amount"] == 6_000 <= books["captures"]["amount"]


async def test_cancel_releases_an_authorisation_and_is_idempotent(
    payments: PaymentsService,
) -> None:
    intent = await payments.create_intent(capture_method="manual")
    await payments.confirm(intent["id"], "pm_card_visa")
    path = f"/api/v1/payment_intents/{intent['id']}/cancel"
    for _ in range(2):
        canceled = await payments.api.post(
            path, json={"reason": "order_canceled"}, headers=payments.service_headers()
        )
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["status"] == "canceled"
    assert (await payments.outbox(intent["id"])).count("payments.intent.canceled") == 1
    refused = await payments.api.post(
        f"/api/v1/payment_intents/{intent['id']}/confirm",
        json={"payment_method": "pm_card_visa"},
        headers=payments.service_headers(key=secrets.token_hex(8)),
    )
    assert refused.status_code == 409


async def test_no_new_attempt_while_an_outcome_is_unknown(payments: PaymentsService) -> None:
    """The provider answers 500 to every try: the attempt's outcome is UNKNOWN. Another
    confirmation, even with another card and key, is refused until the reconciler has
    asked the provider."""
    intent = await payments.create_intent(amount=1_700)
    lost = await payments.confirm(intent["id"], "pm_card_processing_error")
    assert lost.status_code == 200, lost.text
    assert lost.json()["status"] == "processing"
    second = await payments.confirm(intent["id"], "pm_card_visa")
    assert second.status_code == 409, second.text
    assert second.headers["content-type"] == "application/problem+json"
    assert (await payments.intent(intent["id"]))["status"] == "processing"
    assert (await payments.charges(intent["id"])).get("charges", {}).get("count", 0) == 0
    # What the reconciler then finds, and the next confirmation:
    # test_a_provider_error_before_any_charge_leaves_the_intent_payable.


async def test_an_intent_whose_card_was_declined_can_be_canceled(
    payments: PaymentsService,
) -> None:
    """The provider knows a (failed) payment: the cancel goes to it, then answers the
    intent as canceled (the orders saga's compensation after a decline)."""
    intent = await payments.create_intent()
    declined = await payments.confirm(intent["id"], "pm_card_declined")
    assert declined.json()["status"] == "requires_payment_method", declined.text
    canceled = await payments.api.post(
        f"/api/v1/payment_intents/{intent['id']}/cancel",
        json={"reason": "order_canceled"},
        headers=payments.service_headers(),
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    assert (await payments.outbox(intent["id"])).count("payments.intent.canceled") == 1
