"""Idempotency keys with a processor's semantics, including the charge whose answer is lost."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

from mercato.payments.providers.base import ProviderOutcomeUnknown, ProviderStatus
from mercato.payments.providers.sandbox import SandboxProvider
from tests.integration.sandbox.conftest import (
    API_KEY,
    NEW_SECRET,
    OTHER_API_KEY,
    SLOW_ANSWER_S,
    Sandbox,
)


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"key-{secrets.token_hex(8)}"}


async def test_the_same_key_and_body_replay_the_first_answer(
    sandbox: Sandbox, reference: str
) -> None:
    key = _key()
    body = {"amount": 500, "currency": "EUR", "reference": reference}

    first = await sandbox.api.post("/v1/payment_intents", json=body, headers=key)
    second = await sandbox.api.post("/v1/payment_intents", json=body, headers=key)

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    listed = await sandbox.api.get("/v1/payment_intents", params={"reference": reference})
    assert len(listed.json()["data"]) == 1


async def test_the_same_key_with_another_body_is_refused(sandbox: Sandbox, reference: str) -> None:
    key = _key()
    body = {"amount": 500, "currency": "EUR", "reference": reference}
    await sandbox.api.post("/v1/payment_intents", json=body, headers=key)

    reused = await sandbox.api.post("/v1/payment_intents", json=body | {"amount": 501}, headers=key)
    elsewhere = await sandbox.api.post(
        "/v1/refunds", json={"payment_intent": "pi_" + "0" * 24}, headers=key
    )

    for refused in (reused, elsewhere):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "idempotency_key_reused"


async def test_keys_are_scoped_to_the_api_key(sandbox: Sandbox, reference: str) -> None:
    key = _key()
    body = {"amount": 500, "currency": "EUR", "reference": reference}
    first = await sandbox.api.post("/v1/payment_intents", json=body, headers=key)

    other = await sandbox.api.post(
        "/v1/payment_intents", json=body, headers=key | {"Authorization": f"Bearer {OTHER_API_KEY}"}
    )

    assert other.status_code == 200
    assert other.json()["id"] != first.json()["id"]


async def test_concurrent_requests_with_one_key_create_one_intent(
    sandbox: Sandbox, reference: str
) -> None:
    key = _key()
    body = {"amount": 700, "currency": "EUR", "reference": reference}

    answers = await asyncio.gather(
        *(sandbox.api.post("/v1/payment_intents", json=body, headers=key) for _ in range(10))
    )

    assert {answer.status_code for answer in answers} <= {200, 409}
    ids = {answer.json()["id"] for answer in answers if answer.status_code == 200}
    assert len(ids) == 1
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["error"]["code"] == "idempotency_key_in_use"
    listed = await sandbox.api.get("/v1/payment_intents", params={"reference": reference})
    assert len(listed.json()["data"]) == 1


async def test_a_refusal_is_replayed_too(sandbox: Sandbox) -> None:
    paid = await sandbox.paid_intent(amount=100)
    key = _key()
    body = {"payment_intent": paid["id"], "amount": 101}

    first = await sandbox.api.post("/v1/refunds", json=body, headers=key)
    second = await sandbox.api.post("/v1/refunds", json=body, headers=key)

    assert first.status_code == second.status_code == 400
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"


async def test_an_injected_500_keeps_nothing_so_the_retry_runs_for_real(
    sandbox: Sandbox, reference: str
) -> None:
    key = _key()
    body = {"amount": 900, "currency": "EUR", "reference": reference}
    await sandbox.set_faults(error_rate=1.0)
    failed = await sandbox.api.post("/v1/payment_intents", json=body, headers=key)
    await sandbox.set_faults(error_rate=0.0)

    retried = await sandbox.api.post("/v1/payment_intents", json=body, headers=key)

    assert failed.status_code == 500
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers


@pytest.mark.parametrize("bad_key", ["", "x" * 256, "clé"])
async def test_an_unusable_key_is_refused(sandbox: Sandbox, reference: str, bad_key: str) -> None:
    body = {"amount": 900, "currency": "EUR", "reference": reference}

    refused = await sandbox.api.post(
        "/v1/payment_intents",
        json=body,
        headers={b"Idempotency-Key": bad_key.encode()},
    )

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "idempotency_key_invalid"


async def test_a_charge_whose_answer_was_lost_is_replayed_not_repeated(sandbox: Sandbox) -> None:
    """The caller times out although the card was charged; its retry with the same key
    is 409 while the first request still runs, and replays the success afterwards."""
    intent = await sandbox.create_intent(amount=4_200)
    key = f"confirm-{intent['id']}"
    impatient = SandboxProvider(
        base_url=sandbox.base_url,
        api_key=API_KEY,
        webhook_secrets=(NEW_SECRET,),
        read_timeout_s=0.3,
    )
    try:
        with pytest.raises(ProviderOutcomeUnknown):
            await impatient.confirm_payment(
                intent["id"],
                payment_method="pm_card_timeout_after_charge",
                return_url=None,
                idempotency_key=key,
            )
        in_flight = await sandbox.api.post(
            f"/v1/payment_intents/{intent['id']}/confirm",
            json={"payment_method": "pm_card_timeout_after_charge", "return_url": None},
            headers={"Idempotency-Key": key},
        )
        assert in_flight.status_code == 409
        assert in_flight.json()["error"]["code"] == "idempotency_key_in_use"
        with pytest.raises(ProviderOutcomeUnknown):  # the adapter's reading of that 409
            await impatient.confirm_payment(
                intent["id"],
                payment_method="pm_card_timeout_after_charge",
                return_url=None,
                idempotency_key=key,
            )
        await asyncio.sleep(SLOW_ANSWER_S)

        replayed = await impatient.confirm_payment(
            intent["id"],
            payment_method="pm_card_timeout_after_charge",
            return_url=None,
            idempotency_key=key,
        )
    finally:
        await impatient.aclose()

    assert replayed.status is ProviderStatus.SUCCEEDED
    assert replayed.amount_captured == 4_200
    books = (await sandbox.ledger(intent["reference"]))["EUR"]
    assert books["charges"] == {"count": 1, "amount": 4_200}
    assert books["captures"] == {"count": 1, "amount": 4_200}
    succeeded = await sandbox.receiver.wait_for(
        lambda found: any(d.event["type"] == "payment_intent.succeeded" for d in found),
        object_id=intent["id"],
    )
    assert len(succeeded) == 1


async def test_a_replayed_request_is_still_authenticated(sandbox: Sandbox, reference: str) -> None:
    key = _key()
    body = {"amount": 500, "currency": "EUR", "reference": reference}
    await sandbox.api.post("/v1/payment_intents", json=body, headers=key)

    async with httpx.AsyncClient(base_url=sandbox.base_url) as anonymous:
        refused = await anonymous.post("/v1/payment_intents", json=body, headers=key)

    assert refused.status_code == 401
