"""The merchant webhook endpoints API: who may use it, what it accepts (the SSRF guard at
registration), versions on change, soft deletion, and a secret that appears in the
creation answer only (never in reads, replays, logs, or the database in plain text)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.logs import captured_logs
from tests.support.merchant_site import ENDPOINTS, admin_headers, remove_all_endpoints
from tests.support.payments_service import PaymentsService

RECEIVER = "http://127.0.0.1:9/hooks"  # allow-listed (127.0.0.0/8); nothing is sent here


@pytest.fixture(autouse=True)
async def _no_endpoint_outlives_its_test(payments: PaymentsService) -> AsyncIterator[None]:
    """Later tests' payments must not fan out to these endpoints (nothing listens)."""
    yield
    await remove_all_endpoints(payments)


def endpoint_body(**fields: Any) -> dict[str, Any]:
    return {"url": RECEIVER, "event_types": ["payments.intent.succeeded"]} | fields


async def register(payments: PaymentsService, **fields: Any) -> dict[str, Any]:
    created = await payments.api.post(
        ENDPOINTS, json=endpoint_body(**fields), headers=admin_headers(payments)
    )
    assert created.status_code == 201, created.text
    found: dict[str, Any] = created.json()
    return found


async def test_the_secret_is_in_the_creation_answer_only(payments: PaymentsService) -> None:
    key = secrets.token_hex(8)
    admin = admin_headers(payments, key=key)  # a key is the caller's own
    with captured_logs() as logs:
        created = await payments.api.post(
            ENDPOINTS, json=endpoint_body(description="orders system"), headers=admin
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        endpoint_id = created.json()["id"]
        replayed = await payments.api.post(
            ENDPOINTS, json=endpoint_body(description="orders system"), headers=admin
        )
        one = await payments.api.get(f"{ENDPOINTS}/{endpoint_id}", headers=admin_headers(payments))
        listed = await payments.api.get(ENDPOINTS, headers=admin_headers(payments))
        changed = await payments.api.patch(
            f"{ENDPOINTS}/{endpoint_id}",
            json={"description": "renamed", "version": 1},
            headers=admin_headers(payments),
        )
    assert secret.startswith("whsec_")
    assert created.headers["location"] == f"{ENDPOINTS}/{endpoint_id}"
    assert replayed.status_code == 201
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["id"] == endpoint_id
    assert replayed.json()["secret"] is None
    for answer in (one, listed, changed):
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text
        assert "secret" not in answer.json()
    assert endpoint_id in [item["id"] for item in listed.json()["items"]]
    assert secret not in logs.text
    async with payments.runtime.database.session() as session:
        stored = await session.scalar(
            text(
                "SELECT concat_ws(' ', secret_encrypted::text, response_body::text)"
                " FROM payments_webhook_endpoint, platform_idempotency_key"
                " WHERE id = :id AND key = :key"
            ),
            {"id": endpoint_id, "key": key},
        )
    assert stored is not None
    assert secret not in stored
    assert secret.encode().hex() not in stored


async def test_only_payments_administrators_manage_endpoints(payments: PaymentsService) -> None:
    endpoint = await register(payments)
    service = payments.service_headers(scopes=("payments:write", "payments:read"))
    customer = payments.customer_headers(uuid.uuid4())
    calls = [
        ("POST", ENDPOINTS, endpoint_body()),
        ("GET", ENDPOINTS, None),
        ("GET", f"{ENDPOINTS}/{endpoint['id']}", None),
        ("POST", f"{ENDPOINTS}/{endpoint['id']}/rotate-secret", None),
        ("GET", f"{ENDPOINTS}/{endpoint['id']}/deliveries", None),
        ("DELETE", f"{ENDPOINTS}/{endpoint['id']}", None),
        ("POST", f"/api/v1/webhook_deliveries/{uuid.uuid4()}/replay", None),
    ]
    for method, url, body in calls:
        for headers, status in ((service, 403), (customer, 403), ({}, 401)):
            answer = await payments.api.request(method, url, json=body, headers=headers)
            assert answer.status_code == status, (method, url, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:8080/hooks",  # loopback, not on the test allow-list (127.0.0.0/8)
        "http://169.254.169.254/latest/meta-data",  # link-local: the cloud metadata service
        "http://10.0.0.1/hooks",  # private
        "http://[::ffff:192.168.1.1]/hooks",  # private, IPv4-mapped
        "http://0.0.0.0:8001/hooks",  # unspecified
    ],
)
async def test_private_targets_are_refused_unless_allow_listed(
    payments: PaymentsService, url: str
) -> None:
    refused = await payments.api.post(
        ENDPOINTS, json=endpoint_body(url=url), headers=admin_headers(payments)
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == "/problems/invalid-webhook-target"
    assert refused.json()["errors"][0]["pointer"] == "/url"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "ftp://127.0.0.1/hooks"),
        ("url", "http://user:pass@127.0.0.1/hooks"),
        ("url", "not a url"),
        ("url", "http://127.0.0.1/\x00"),
        ("event_types", ["payments.intent.exploded"]),
        ("event_types", []),
        ("description", "x" * 501),
    ],
)
async def test_bad_input_is_a_problem_not_a_crash(
    payments: PaymentsService, field: str, value: object
) -> None:
    refused = await payments.api.post(
        ENDPOINTS, json=endpoint_body(**{field: value}), headers=admin_headers(payments)
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"


async def test_changes_name_their_version_and_deleted_endpoints_are_gone(
    payments: PaymentsService,
) -> None:
    endpoint = await register(payments)
    url = f"{ENDPOINTS}/{endpoint['id']}"
    admin = admin_headers(payments)
    unversioned = await payments.api.patch(url, json={"enabled": False}, headers=admin)
    assert unversioned.status_code == 428
    stale = await payments.api.patch(
        url, json={"enabled": False}, headers={**admin, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    disabled = await payments.api.patch(
        url,
        json={"enabled": False, "event_types": ["*"]},
        headers={**admin, "If-Match": '"1"'},
    )
    assert disabled.status_code == 200, disabled.text
    assert disabled.headers["etag"] == '"2"'
    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] == "disabled_by_admin"
    assert disabled.json()["event_types"] == ["*"]
    moved = await payments.api.patch(
        url, json={"url": "http://10.1.2.3/hooks", "version": 2}, headers=admin
    )
    assert moved.status_code == 422

    assert (await payments.api.delete(url, headers=admin)).status_code == 204
    assert (await payments.api.get(url, headers=admin)).status_code == 404
    assert (await payments.api.delete(url, headers=admin)).status_code == 404
    listed = await payments.api.get(ENDPOINTS, params={"limit": 100}, headers=admin)
    assert endpoint["id"] not in [item["id"] for item in listed.json()["items"]]


async def test_lists_are_keyset_pages(payments: PaymentsService) -> None:
    ids = {(await register(payments))["id"] for _ in range(3)}
    admin = admin_headers(payments)
    first = await payments.api.get(ENDPOINTS, params={"limit": 2}, headers=admin)
    assert first.status_code == 200, first.text
    assert len(first.json()["items"]) == 2
    assert first.json()["next"] is not None
    assert first.headers["link"].endswith('rel="next"')
    second = await payments.api.get(first.json()["next"], headers=admin)
    seen = [item["id"] for item in first.json()["items"] + second.json()["items"]]
    assert len(seen) == len(set(seen))
    assert ids & set(seen)
    forged = await payments.api.get(ENDPOINTS, params={"cursor": "e30"}, headers=admin)
    assert forged.status_code == 422
    unknown = await payments.api.get(ENDPOINTS, params={"order": "x"}, headers=admin)
    assert unknown.status_code == 422
    missing = await payments.api.get(
        f"/api/v1/webhook_deliveries/{uuid.uuid4()}/attempts", headers=admin
    )
    assert missing.status_code == 404


async def announcements(payments: PaymentsService, endpoint_id: str) -> list[object]:
    """The reasons of the `payments.webhook_endpoint.disabled` events about an endpoint, in
    the order they were published."""
    async with payments.runtime.database.session() as session:
        rows = await session.execute(
            text(
                "SELECT envelope -> 'payload' ->> 'reason' FROM platform_outbox"
                " WHERE aggregate_id = :id AND name = 'payments.webhook_endpoint.disabled'"
                " ORDER BY seq"
            ),
            {"id": endpoint_id},
        )
        return [row[0] for row in rows]


async def test_an_administrator_disabling_or_deleting_an_endpoint_announces_it(
    payments: PaymentsService,
) -> None:
    admin = admin_headers(payments)
    disabled, deleted = await register(payments), await register(payments)
    url = f"{ENDPOINTS}/{disabled['id']}"
    off = await payments.api.patch(url, json={"enabled": False, "version": 1}, headers=admin)
    assert off.status_code == 200, off.text
    again = await payments.api.patch(url, json={"enabled": False, "version": 2}, headers=admin)
    assert again.status_code == 200, again.text
    assert await announcements(payments, disabled["id"]) == ["disabled_by_admin"]
    # Deleting one that is disabled already announces nothing more.
    assert (await payments.api.delete(url, headers=admin)).status_code == 204
    assert await announcements(payments, disabled["id"]) == ["disabled_by_admin"]

    gone = await payments.api.delete(f"{ENDPOINTS}/{deleted['id']}", headers=admin)
    assert gone.status_code == 204
    assert await announcements(payments, deleted["id"]) == ["deleted"]


async def test_a_rotation_retried_with_its_key_rotates_once(payments: PaymentsService) -> None:
    endpoint = await register(payments)
    url = f"{ENDPOINTS}/{endpoint['id']}/rotate-secret"
    key = secrets.token_hex(8)
    admin = admin_headers(payments, key=key)
    with captured_logs() as logs:
        rotated = await payments.api.post(url, headers=admin)
        retried = await payments.api.post(url, headers=admin)
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["secret"]
    assert secret.startswith("whsec_")
    assert rotated.json()["version"] == 2
    assert retried.status_code == 200, retried.text
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.json() | {"secret": secret} == rotated.json()
    assert retried.json()["secret"] is None
    current = await payments.api.get(
        f"{ENDPOINTS}/{endpoint['id']}", headers=admin_headers(payments)
    )
    assert current.json()["version"] == 2  # rotated once
    assert secret not in logs.text
    stored = await payments.scalar(
        "SELECT response_body::text FROM platform_idempotency_key WHERE key = :key", key=key
    )
    assert stored is not None
    assert secret not in stored
    assert secret.encode().hex() not in stored

    other = await register(payments)
    reused = await payments.api.post(f"{ENDPOINTS}/{other['id']}/rotate-secret", headers=admin)
    assert reused.status_code == 422, reused.text
    assert reused.headers["content-type"] == "application/problem+json"
    unkeyed = await payments.api.post(url, headers=admin_headers(payments))
    assert unkeyed.status_code == 200  # accepted, not required: without one, it rotates
    assert unkeyed.json()["version"] == 3
