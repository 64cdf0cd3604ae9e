"""The payments service over HTTP, paying through the sandbox provider for real."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from mercato.platform.idempotency import reap_idempotency_keys
from tests.support.payments_service import PaymentsService


def is_settled(intent: dict[str, Any]) -> bool:
    return intent["status"] not in {"processing"}


async def test_a_card_that_works_pays_once_and_publishes_succeeded(
    payments: PaymentsService,
) -> None:
    intent = await payments.create_intent(amount=2_500)
    assert intent["status"] == "requires_payment_method"
    paid = await payments.confirm(intent["id"], "pm_card_visa")
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "succeeded"
    assert paid.json()["amount_received"] == 2_500
    assert (await payments.charges(intent["id"]))["captures"]["amount"] == 2_500
    assert "payments.intent.succeeded" in await payments.outbox(intent["id"])


async def test_a_declined_card_leaves_the_intent_payable_with_another(
    payments: PaymentsService,
) -> None:
    intent = await payments.create_intent()
    declined = await payments.confirm(intent["id"], "pm_card_declined")
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "requires_payment_method"
    assert declined.json()["last_payment_error"]["code"] == "card_declined"
    paid = await payments.confirm(intent["id"], "pm_card_visa")
    assert paid.json()["status"] == "succeeded"
    assert await payments.outbox(intent["id"]) == [
        "payments.intent.failed",
        "payments.intent.succeeded",
    ]


async def test_creating_needs_a_key_and_a_key_replays_the_first_answer(
    payments: PaymentsService,
) -> None:
    body = {"amount": 1_000, "currency": "EUR", "order_reference": f"ord_{secrets.token_hex(6)}"}
    url = "/api/v1/payment_intents"
    without = await payments.api.post(url, json=body, headers=payments.service_headers())
    assert without.status_code == 400
    assert without.json()["type"] == "/problems/idempotency-key-required"
    key = secrets.token_hex(8)
    first = await payments.api.post(url, json=body, headers=payments.service_headers(key=key))
    again = await payments.api.post(url, json=body, headers=payments.service_headers(key=key))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await payments.api.post(
        url, json=body | {"amount": 9}, headers=payments.service_headers(key=key)
    )
    assert other.status_code == 422
    # Another key for the same order is a second click: refused, one intent per order.
    twice = await payments.api.post(
        url, json=body, headers=payments.service_headers(key=secrets.token_hex(8))
    )
    assert twice.status_code == 409
    assert twice.json()["type"] == "/problems/intent-exists-for-order"


async def test_concurrent_confirmations_charge_once(payments: PaymentsService) -> None:
    intent = await payments.create_intent(amount=4_200)
    key = secrets.token_hex(8)
    same_key = await asyncio.gather(
        *(payments.confirm(intent["id"], "pm_card_visa", key=key) for _ in range(5))
    )
    other_keys = await asyncio.gather(
        *(payments.confirm(intent["id"], "pm_card_visa") for _ in range(5))
    )
    statuses = [response.status_code for response in [*same_key, *other_keys]]
    assert statuses.count(200) >= 1
    assert set(statuses) <= {200, 409}
    assert (await payments.charges(intent["id"]))["charges"]["count"] == 1
    assert (await payments.intent(intent["id"]))["status"] == "succeeded"


async def test_customers_pay_and_see_their_own_intents_only(payments: PaymentsService) -> None:
    ada, bob = uuid.uuid4(), uuid.uuid4()
    intent = await payments.create_intent(customer=ada)
    path = f"/api/v1/payment_intents/{intent['id']}"
    assert (await payments.api.get(path, headers=payments.customer_headers(bob))).status_code == 404
    assert (await payments.api.get(path)).status_code == 401
    paid = await payments.api.post(
        f"{path}/confirm",
        json={"payment_method": "pm_card_visa"},
        headers=payments.customer_headers(ada),
    )
    assert paid.status_code == 200, paid.text
    # A customer cannot create intents (only the API's checkout, with a service token).
    created = await payments.api.post(
        "/api/v1/payment_intents",
        json={"amount": 1, "currency": "EUR", "order_reference": "x"},
        headers=payments.customer_headers(ada) | {"Idempotency-Key": "k"},
    )
    assert created.status_code == 403


async def test_staff_search_intents_by_order_and_status_in_keyset_pages(
    payments: PaymentsService,
) -> None:
    reference = f"ord_{secrets.token_hex(6)}"
    intent = await payments.create_intent(order_reference=reference)
    await payments.confirm(intent["id"], "pm_card_visa")
    found = await payments.api.get(
        "/api/v1/payment_intents",
        params={"order_reference": reference, "status": "succeeded"},
        headers=payments.service_headers(scopes=("payments:read",)),
    )
    assert found.status_code == 200, found.text
    assert [item["id"] for item in found.json()["items"]] == [intent["id"]]
    page = await payments.api.get(
        "/api/v1/payment_intents",
        params={"limit": 1, "sort": "-created_at"},
        headers=payments.service_headers(scopes=("payments:read",)),
    )
    assert page.json()["next"] is not None
    assert 'rel="next"' in page.headers["link"]
    customer = await payments.api.get(
        "/api/v1/payment_intents", headers=payments.customer_headers(uuid.uuid4())
    )
    assert customer.status_code == 403
    bad_sort = await payments.api.get(
        "/api/v1/payment_intents",
        params={"sort": "pg_sleep(5)"},
        headers=payments.service_headers(scopes=("payments:read",)),
    )
    assert bad_sort.status_code == 422


async def test_refunds_need_a_key_and_a_key_refunds_once(payments: PaymentsService) -> None:
    intent = await payments.create_intent(amount=3_000)
    assert (await payments.confirm(intent["id"], "pm_card_visa")).status_code == 200
    url = f"/api/v1/payment_intents/{intent['id']}/refunds"
    without = await payments.api.post(url, json={"amount": 500}, headers=payments.service_headers())
    assert without.status_code == 400
    assert without.json()["type"] == "/problems/idempotency-key-required"
    headers = payments.service_headers(key=secrets.token_hex(8))
    first = await payments.api.post(url, json={"amount": 500}, headers=headers)
    again = await payments.api.post(url, json={"amount": 500}, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert (await payments.intent(intent["id"]))["amount_refunded"] == 500
    assert (await payments.charges(intent["id"]))["refunds"]["amount"] == 500


@pytest.mark.parametrize(("currency", "amount"), [("JPY", 500), ("BHD", 1_234), ("EUR", 1_999)])
async def test_amounts_are_integers_of_the_currencys_minor_unit(
    payments: PaymentsService, currency: str, amount: int
) -> None:
    """¥500 is 500 (exponent 0), 1.234 BHD is 1234 (exponent 3): the integer goes through
    us and the provider unchanged; a fraction or a float is refused."""
    intent = await payments.create_intent(amount=amount, currency=currency)
    paid = await payments.confirm(intent["id"], "pm_card_visa")
    assert paid.status_code == 200, paid.text
    assert (paid.json()["amount_received"], paid.json()["currency"]) == (amount, currency)
    ledger = await payments.sandbox.get("/v1/ledger", params={"reference": intent["id"]})
    assert ledger.json()["currencies"][currency]["captures"]["amount"] == amount
    refused = await payments.api.post(
        "/api/v1/payment_intents",
        json={"amount": 12.5, "currency": currency, "order_reference": f"ord_{uuid.uuid4().hex}"},
        headers=payments.service_headers(key=secrets.token_hex(8)),
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"


async def test_a_key_belongs_to_its_caller(payments: PaymentsService) -> None:
    """Two callers choosing the same key do not see each other's answers (the key is
    scoped to the principal): each creates its own intent."""
    key = secrets.token_hex(8)
    answers = []
    for caller in (uuid.uuid4(), uuid.uuid4()):
        headers = payments.customer_headers(caller, roles=("admin",)) | {"Idempotency-Key": key}
        body = {"amount": 700, "currency": "EUR", "order_reference": f"ord_{uuid.uuid4().hex}"}
        answers.append(
            await payments.api.post("/api/v1/payment_intents", json=body, headers=headers)
        )
    assert [answer.status_code for answer in answers] == [201, 201], answers[1].text
    assert "idempotent-replayed" not in answers[1].headers
    assert answers[0].json()["id"] != answers[1].json()["id"]


async def test_keys_are_kept_a_day_then_reaped(payments: PaymentsService) -> None:
    scope = f"payments:reap-{uuid.uuid4()}"
    async with payments.runtime.database.session() as session, session.begin():
        for key, age_hours in (("day-old", 25), ("fresh", 23)):
            await session.execute(
                text(
                    "INSERT INTO platform_idempotency_key (scope, key, fingerprint, created_at)"
                    " VALUES (:scope, :key, '\\x00', now() - make_interval(hours => :age))"
                ),
                {"scope": scope, "key": key, "age": age_hours},
            )
    await reap_idempotency_keys(payments.runtime.database)
    async with payments.runtime.database.session() as session:
        left = (
            await session.scalars(
                text("SELECT key FROM platform_idempotency_key WHERE scope = :scope"),
                {"scope": scope},
            )
        ).all()
    assert left == ["fresh"]
