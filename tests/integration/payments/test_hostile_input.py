"""Hostile input never makes the payments service answer 5xx: every route's parameters and
body fields, from the service's own OpenAPI document, with NUL, lone surrogates,
out-of-range and non-finite numbers, deep nesting, Unicode digits and forged cursors
(the walk of `tests/security/hostile.py`), anonymously and as an administrator, over HTTP
to the real service (its commits are real)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.hostile import (
    CURSOR_VALUES,
    Fixtures,
    deep_cursor,
    forged_cursor,
    problems,
    random_id,
    requests_for,
    send,
)
from tests.support.merchant_site import ENDPOINTS, admin_headers, remove_all_endpoints
from tests.support.payments_service import PaymentsService

RECEIVER = "http://127.0.0.1:9/hooks"  # allow-listed loopback; nothing listens there
VALID_SORT_VALUES = {
    "created_at": "2026-01-01T00:00:00+00:00",
    "id": "00000000-0000-7000-8000-000000000000",
    "amount": 100,
}
LIST_SORTS = {
    "/api/v1/payment_intents": ["-created_at,-id", "amount,id"],
    "/api/v1/webhook_endpoints": ["-created_at,-id"],
    "/api/v1/webhook_endpoints/{endpoint_id}/deliveries": ["-created_at,-id"],
}


def _cursors(canonicals: list[str]) -> list[str]:
    forged = [deep_cursor()]
    for canonical in canonicals:
        names = [key.lstrip("-") for key in canonical.split(",")]
        for position in range(len(names)):
            for value in CURSOR_VALUES:
                values: list[Any] = [VALID_SORT_VALUES[name] for name in names]
                values[position] = value
                forged.append(forged_cursor(canonical, values))
    return forged


async def _fixtures(payments: PaymentsService) -> Fixtures:
    admin = admin_headers(payments)
    intent = await payments.create_intent()
    endpoint = await payments.api.post(
        ENDPOINTS, json={"url": RECEIVER, "event_types": ["*"]}, headers=admin
    )
    assert endpoint.status_code == 201, endpoint.text
    return Fixtures(
        path={
            "intent_id": intent["id"],
            "endpoint_id": endpoint.json()["id"],
            "delivery_id": random_id(),
            "provider": "sandbox",
        },
        bodies={
            "IntentIn": {"amount": 1_000, "currency": "EUR", "order_reference": "ord_hostile"},
            "ConfirmIn": {"payment_method": "pm_card_visa"},
            "CaptureIn": {"amount": 100},
            "CancelIn": {"reason": "abandoned"},
            "RefundIn": {"amount": 100},
            "EndpointIn": {"url": RECEIVER, "event_types": ["payments.intent.succeeded"]},
            "EndpointPatchIn": {"description": "hostile"},
        },
        cursors={path: _cursors(sorts) for path, sorts in LIST_SORTS.items()},
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("as_admin", [False, True], ids=["anonymous", "admin"])
async def test_no_payments_route_answers_hostile_input_with_a_server_error(
    payments: PaymentsService, as_admin: bool
) -> None:
    fixtures = await _fixtures(payments)
    auth = admin_headers(payments) if as_admin else {}
    document = (await payments.api.get("/openapi.json")).json()
    failures: list[str] = []
    sent = 0
    try:
        for path, operations in document["paths"].items():
            for method in operations:
                for request in requests_for(document, path, method, fixtures):
                    if as_admin and request.authenticates:
                        continue  # the administrator's token would replace the hostile one
                    response = await send(payments.api, request, auth)
                    sent += 1
                    failures.extend(problems(response, request))
    finally:
        await remove_all_endpoints(payments)
    assert sent > 1_000
    assert not failures, "\n".join(failures[:50]) + f"\n({len(failures)} in all)"
