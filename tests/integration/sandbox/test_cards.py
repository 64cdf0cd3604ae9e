"""Every test card of docs/sandbox.md against the real sandbox, with what it moved."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest

from tests.integration.sandbox.conftest import ASYNC_DELAY_S, Sandbox

EXP_YEAR = dt.datetime.now(dt.UTC).year + 4


async def test_visa_succeeds_and_charges_and_captures_once(sandbox: Sandbox) -> None:
    intent = await sandbox.create_intent(amount=1_250, metadata={"order": "o-1"})
    assert intent["status"] == "requires_payment_method"
    assert intent["id"].startswith("pi_")

    confirmed = (await sandbox.confirm(intent["id"], "pm_card_visa")).json()

    assert confirmed["status"] == "succeeded"
    assert confirmed["amount_received"] == 1_250
    assert confirmed["metadata"] == {"order": "o-1"}
    books = (await sandbox.ledger(intent["reference"]))["EUR"]
    assert books["charges"] == {"count": 1, "amount": 1_250}
    assert books["captures"] == {"count": 1, "amount": 1_250}


async def test_manual_capture_holds_the_amount_then_captures_part_of_it(sandbox: Sandbox) -> None:
    intent = await sandbox.create_intent(amount=1_000, capture_method="manual")
    held = (await sandbox.confirm(intent["id"], "pm_card_mastercard")).json()
    assert held["status"] == "requires_capture"
    assert held["amount_capturable"] == 1_000
    capture = f"/v1/payment_intents/{intent['id']}/capture"

    too_much = await sandbox.api.post(capture, json={"amount_to_capture": 1_001})
    captured = await sandbox.api.post(capture, json={"amount_to_capture": 600})
    again = await sandbox.api.post(capture, json={})

    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_too_large"
    assert captured.json()["status"] == "succeeded"
    assert captured.json()["amount_received"] == 600
    assert captured.json()["amount_capturable"] == 0
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "payment_intent_unexpected_state"
    books = (await sandbox.ledger(intent["reference"]))["EUR"]
    assert books["charges"] == {"count": 1, "amount": 1_000}
    assert books["captures"] == {"count": 1, "amount": 600}


@pytest.mark.parametrize(
    ("card", "code"),
    [("pm_card_declined", "card_declined"), ("pm_card_insufficient_funds", "insufficient_funds")],
)
async def test_a_declined_card_is_an_answer_not_an_error_and_moves_nothing(
    sandbox: Sandbox, card: str, code: str
) -> None:
    intent = await sandbox.create_intent()

    declined = await sandbox.confirm(intent["id"], card)

    assert declined.status_code == 200
    assert declined.json()["status"] == "requires_payment_method"
    assert declined.json()["last_payment_error"]["code"] == code
    assert await sandbox.ledger(intent["reference"]) == {}
    # The customer may try another card.
    retried = (await sandbox.confirm(intent["id"], "pm_card_visa")).json()
    assert retried["status"] == "succeeded"
    assert retried["last_payment_error"] is None


@pytest.mark.parametrize(
    ("outcome", "status"), [("approve", "succeeded"), ("decline", "requires_payment_method")]
)
async def test_the_threeds_card_waits_for_the_customer_at_the_action_page(
    sandbox: Sandbox, outcome: str, status: str
) -> None:
    intent = await sandbox.create_intent()
    pending = (
        await sandbox.confirm(
            intent["id"], "pm_card_threeds", return_url="https://shop.example/back"
        )
    ).json()
    assert pending["status"] == "requires_action"
    page_url = pending["next_action"]["redirect_url"]
    assert page_url.startswith(f"{sandbox.base_url}/v1/actions/")

    page = await sandbox.api.get(page_url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert 'value="approve"' in page.text
    assert 'value="decline"' in page.text
    assert not re.search(r"(src|href)=", page.text)  # no external asset, no script

    done = await sandbox.api.post(page_url, data={"outcome": outcome})

    assert done.status_code == 200
    assert "https://shop.example/back?payment_intent=" in done.text
    after = (await sandbox.api.get(f"/v1/payment_intents/{intent['id']}")).json()
    assert after["status"] == status
    assert after["next_action"] is None
    again = await sandbox.api.post(page_url, json={"outcome": "approve"})
    assert again.status_code == 400  # an action is answered once
    final = "payment_intent.succeeded" if outcome == "approve" else "payment_intent.payment_failed"
    deliveries = await sandbox.receiver.wait_for(
        lambda found: len(found) == 2, object_id=intent["id"]
    )
    assert [d.event["type"] for d in deliveries] == ["payment_intent.requires_action", final]
    charged = 1 if outcome == "approve" else 0
    books = await sandbox.ledger(intent["reference"])
    assert (books["EUR"]["charges"]["count"] if books else 0) == charged


async def test_the_processing_error_card_answers_500_and_charges_nothing(sandbox: Sandbox) -> None:
    intent = await sandbox.create_intent()

    failed = await sandbox.confirm(intent["id"], "pm_card_processing_error")

    assert failed.status_code == 500
    assert failed.json()["error"] == {
        "type": "api_error",
        "code": "processing_error",
        "message": "An error occurred while processing the card.",
    }
    after = (await sandbox.api.get(f"/v1/payment_intents/{intent['id']}")).json()
    assert after["status"] == "requires_payment_method"
    assert await sandbox.ledger(intent["reference"]) == {}


async def test_the_async_card_is_processing_then_settles_with_a_webhook(sandbox: Sandbox) -> None:
    intent = await sandbox.create_intent()

    processing = (await sandbox.confirm(intent["id"], "pm_card_async")).json()

    assert processing["status"] == "processing"
    deliveries = await sandbox.receiver.wait_for(
        lambda found: any(d.event["type"] == "payment_intent.succeeded" for d in found),
        object_id=intent["id"],
        seconds=ASYNC_DELAY_S + 5,
    )
    assert [d.event["type"] for d in deliveries] == [
        "payment_intent.processing",
        "payment_intent.succeeded",
    ]
    settled = (await sandbox.api.get(f"/v1/payment_intents/{intent['id']}")).json()
    assert settled["status"] == "succeeded"
    assert (await sandbox.ledger(intent["reference"]))["EUR"]["captures"]["count"] == 1


async def test_the_timeout_card_charges_and_then_answers_late(sandbox: Sandbox) -> None:
    intent = await sandbox.create_intent()
    confirming = asyncio.create_task(sandbox.confirm(intent["id"], "pm_card_timeout_after_charge"))
    await asyncio.sleep(0.5)

    # Money moved before any answer: the caller that gave up has been charged.
    during = (await sandbox.api.get(f"/v1/payment_intents/{intent['id']}")).json()
    assert during["status"] == "succeeded"
    assert not confirming.done()
    assert (await confirming).json()["status"] == "succeeded"


async def test_a_card_number_becomes_a_payment_method_with_last4_only(sandbox: Sandbox) -> None:
    created = await sandbox.api.post(
        "/v1/payment_methods",
        json={
            "card": {
                "number": "4000 0000 0000 0002",
                "exp_month": 12,
                "exp_year": EXP_YEAR,
                "cvc": "314",
            }
        },
    )
    assert created.status_code == 200
    method = created.json()
    assert method["card"] == {
        "brand": "visa",
        "last4": "0002",
        "exp_month": 12,
        "exp_year": EXP_YEAR,
    }
    intent = await sandbox.create_intent()

    declined = (await sandbox.confirm(intent["id"], method["id"])).json()

    assert declined["last_payment_error"]["code"] == "card_declined"


@pytest.mark.parametrize(
    ("card", "code"),
    [
        ({"number": "4242424242424241"}, "incorrect_number"),
        ({"number": "42424242"}, "invalid_number"),
        ({"number": "4111111111111111"}, "card_declined"),  # real-looking, not a test card
        ({"exp_month": 13}, "invalid_expiry_month"),
        ({"exp_year": 2001}, "invalid_expiry_year"),
        ({"cvc": "12"}, "invalid_cvc"),
    ],
)
async def test_card_errors_are_402_and_name_the_field(
    sandbox: Sandbox, card: dict[str, object], code: str
) -> None:
    body = {
        "number": "4242424242424242",
        "exp_month": 12,
        "exp_year": EXP_YEAR,
        "cvc": "123",
    } | card

    refused = await sandbox.api.post("/v1/payment_methods", json={"card": body})

    assert refused.status_code == 402
    assert refused.json()["error"]["type"] == "card_error"
    assert refused.json()["error"]["code"] == code
    assert refused.json()["error"]["param"].startswith("card[")


async def test_cancel_releases_a_hold_and_a_terminal_state_never_changes(sandbox: Sandbox) -> None:
    intent = await sandbox.create_intent(capture_method="manual")
    await sandbox.confirm(intent["id"], "pm_card_visa")
    path = f"/v1/payment_intents/{intent['id']}"

    canceled = await sandbox.api.post(f"{path}/cancel", json={})
    recanceled = await sandbox.api.post(f"{path}/cancel")
    captured = await sandbox.api.post(f"{path}/capture", json={})
    reconfirmed = await sandbox.confirm(intent["id"], "pm_card_visa")

    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["amount_capturable"] == 0
    for refused in (recanceled, captured, reconfirmed):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert (await sandbox.api.get(path)).json()["status"] == "canceled"
    paid = await sandbox.paid_intent()
    refused = await sandbox.api.post(f"/v1/payment_intents/{paid['id']}/cancel")
    assert refused.status_code == 400
