"""Merchant webhooks out, end to end: a payment's event fans out to the registered
endpoints, the worker delivers it signed (verified by the reference Standard Webhooks
library), retries on the (scaled) schedule, honours Retry-After, disables on 410 or
sustained failure and announces it, and replays on request."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import socket
import uuid

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from standardwebhooks import Webhook

from mercato.payments import webhook_replay
from mercato.payments.merchant_webhooks import MAX_ATTEMPTS, RETRY_DELAYS
from mercato.payments.process import MODULES
from mercato.payments.services import PaymentsServices
from mercato.payments.tasks import reencrypt_fields_job
from mercato.payments.webhook_secrets import reencrypt_secrets
from mercato.platform.security.fields import FieldKeyRing
from mercato.platform.server import run_worker
from tests.support.logs import captured_logs
from tests.support.merchant_receiver import Answer
from tests.support.merchant_site import admin_headers, eventually, merchant_site
from tests.support.payments_service import PaymentsService

SCALE = 1e-5  # the payments fixture's webhook_retry_scale


def started(attempt: dict[str, object]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(attempt["started_at"]))


def is_delivered(delivery: dict[str, object]) -> bool:
    return delivery["status"] == "delivered"


async def test_a_paid_intent_reaches_the_merchant_signed(payments: PaymentsService) -> None:
    with captured_logs() as logs:
        async with merchant_site(payments) as site:
            intent_id = await site.paid_intent()
            delivery = await site.delivery_when(is_delivered)
            received = site.received_for(intent_id)
            attempts = await site.attempts(delivery["id"])
    assert len(received) == 1
    assert received[0].verified
    assert received[0].headers["webhook-id"] == delivery["id"]
    body = orjson.loads(received[0].body)
    assert body["type"] == "payments.intent.succeeded"
    assert body["id"] == delivery["event_id"]
    assert body["data"]["intent_id"] == intent_id
    assert body["data"]["amount_received"] == 2_500
    assert delivery["attempts"] == 1
    assert [(a["number"], a["status_code"], a["trigger"]) for a in attempts] == [
        (1, 200, "scheduled")
    ]
    assert attempts[0]["response_excerpt"] == "ok"
    assert site.secret not in logs.text


async def test_a_failing_endpoint_is_retried_on_schedule_with_one_webhook_id(
    payments: PaymentsService,
) -> None:
    answers = [Answer(status=500), Answer(status=502), Answer(status=200)]
    async with merchant_site(payments, answers=answers) as site:
        intent_id = await site.paid_intent()
        delivery = await site.delivery_when(is_delivered)
        attempts = await site.attempts(delivery["id"])
    received = site.received_for(intent_id)
    assert [a["status_code"] for a in attempts] == [500, 502, 200]
    assert [a["error"] for a in attempts] == ["http_500", "http_502", None]
    assert {d.headers["webhook-id"] for d in received} == {delivery["id"]}
    assert all(d.verified for d in received)
    for number, (before, after) in enumerate(itertools.pairwise(attempts)):
        earliest = RETRY_DELAYS[number].total_seconds() * SCALE * 0.8
        assert (started(after) - started(before)).total_seconds() >= earliest
    assert delivery["attempts"] == 3
    assert delivery["last_status_code"] == 200


async def delivery_metrics(payments: PaymentsService) -> dict[tuple[str, str], float]:
    """The service's merchant webhook samples on /metrics: (name, sorted labels) → value."""
    answer = await payments.api.get("/metrics")
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        if family.name.startswith("mercato_payments_webhook_delivery")
        for sample in family.samples
    }


async def test_every_attempt_is_counted_on_the_metrics_page(payments: PaymentsService) -> None:
    before = await delivery_metrics(payments)
    answers = [Answer(status=429), Answer(status=200)]
    async with merchant_site(payments, answers=answers) as site:
        await site.paid_intent()
        await site.delivery_when(is_delivered)
    after = await delivery_metrics(payments)

    def grew(name: str, labels: str) -> float:
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    prefix = "mercato_payments_webhook_delivery"
    assert grew(f"{prefix}_attempts_total", "trigger=scheduled") == 2
    assert grew(f"{prefix}_successes_total", "trigger=scheduled") == 1
    assert grew(f"{prefix}_failures_total", "reason=http_4xx,trigger=scheduled") == 1
    assert grew(f"{prefix}_duration_seconds_count", "trigger=scheduled") == 2
    assert grew(f"{prefix}_duration_seconds_sum", "trigger=scheduled") > 0


async def test_retry_after_lengthens_the_wait(payments: PaymentsService) -> None:
    answers = [Answer(status=503, headers={"Retry-After": "1"}), Answer(status=200)]
    async with merchant_site(payments, answers=answers) as site:
        await site.paid_intent()
        delivery = await site.delivery_when(is_delivered)
        attempts = await site.attempts(delivery["id"])
    assert [a["status_code"] for a in attempts] == [503, 200]
    # The scaled schedule would have waited 50 µs: the receiver asked for a second.
    assert (started(attempts[1]) - started(attempts[0])).total_seconds() >= 0.95


async def test_gone_disables_the_endpoint_and_announces_it(payments: PaymentsService) -> None:
    notices = ["payments.webhook_endpoint.disabled"]
    async with (
        merchant_site(payments, event_types=notices) as watcher,
        merchant_site(payments, answers=[Answer(status=410)]) as site,
    ):
        await site.paid_intent()
        delivery = await site.delivery_when(lambda d: d["status"] == "abandoned")
        endpoint = await site.read_endpoint()
        events = await payments.outbox(site.endpoint_id)
        attempts = await site.attempts(delivery["id"])
        await watcher.delivery_when(is_delivered)
    assert endpoint["enabled"] is False
    assert endpoint["disabled_reason"] == "gone"
    assert events == notices
    assert [a["status_code"] for a in attempts] == [410]
    [notice] = watcher.received_for(site.endpoint_id)
    assert notice.verified
    assert orjson.loads(notice.body)["data"] == {"endpoint_id": site.endpoint_id, "reason": "gone"}


async def test_sustained_failure_disables_the_endpoint_after_the_whole_schedule(
    payments: PaymentsService,
) -> None:
    async with merchant_site(payments, answers=[Answer(status=500)]) as site:
        await site.paid_intent()
        delivery = await site.delivery_when(lambda d: d["status"] == "failed", seconds=15)
        endpoint = await site.read_endpoint()
        events = await payments.outbox(site.endpoint_id)
    assert delivery["attempts"] == MAX_ATTEMPTS
    assert delivery["next_attempt_at"] is None
    assert endpoint["enabled"] is False
    assert endpoint["disabled_reason"] == "retries_exhausted"
    assert events == ["payments.webhook_endpoint.disabled"]


async def test_a_replay_after_re_enabling_delivers_what_was_abandoned(
    payments: PaymentsService,
) -> None:
    async with merchant_site(payments, answers=[Answer(status=410)]) as site:
        intent_id = await site.paid_intent()
        delivery = await site.delivery_when(lambda d: d["status"] == "abandoned")
        first_id = site.received_for(intent_id)[0].headers["webhook-id"]
        replay = f"/api/v1/webhook_deliveries/{delivery['id']}/replay"
        refused = await payments.api.post(replay, headers=admin_headers(payments))
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"] == "/problems/webhook-endpoint-disabled"

        current = await payments.api.get(
            f"/api/v1/webhook_endpoints/{site.endpoint_id}", headers=admin_headers(payments)
        )
        enabled = await payments.api.patch(
            f"/api/v1/webhook_endpoints/{site.endpoint_id}",
            json={"enabled": True},
            headers={**admin_headers(payments), "If-Match": current.headers["etag"]},
        )
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["disabled_reason"] is None
        site.answer([Answer(status=200)])
        accepted = await payments.api.post(replay, headers=admin_headers(payments))
        assert accepted.status_code == 202, accepted.text
        delivered = await site.delivery_when(is_delivered)
        attempts = await site.attempts(delivery["id"])
    assert [(a["status_code"], a["trigger"]) for a in attempts] == [
        (410, "scheduled"),
        (200, "replay"),
    ]
    assert delivered["attempts"] == 2
    assert [d.headers["webhook-id"] for d in site.received_for(intent_id)] == [first_id]


async def test_replays_of_one_delivery_never_overlap(payments: PaymentsService) -> None:
    async with merchant_site(payments, answers=[Answer(status=200, delay_s=0.2)]) as site:
        await site.paid_intent()
        delivery = await site.delivery_when(is_delivered)
        replay = f"/api/v1/webhook_deliveries/{delivery['id']}/replay"
        answers = await asyncio.gather(
            *(payments.api.post(replay, headers=admin_headers(payments)) for _ in range(3))
        )
        assert [a.status_code for a in answers] == [202] * 3

        async def all_four() -> bool | None:
            return await site.attempt_count(delivery["id"]) == 4 or None

        await eventually(all_four, what="three replays")
        attempts = await site.attempts(delivery["id"])
    spans = sorted(
        (started(a), started(a) + dt.timedelta(milliseconds=int(str(a["duration_ms"]))))
        for a in attempts
    )
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - dt.timedelta(milliseconds=5)


async def test_a_rotated_secret_signs_beside_the_previous_one(payments: PaymentsService) -> None:
    async with merchant_site(payments) as site:
        rotated = await payments.api.post(
            f"/api/v1/webhook_endpoints/{site.endpoint_id}/rotate-secret",
            headers=admin_headers(payments),
        )
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret.startswith("whsec_")
        assert new_secret != site.secret
        assert rotated.json()["previous_secret_expires_at"] is not None
        intent_id = await site.paid_intent()
        await site.delivery_when(is_delivered)
    [received] = site.received_for(intent_id)
    assert received.verified  # with the previous secret, which the receiver still has
    assert len(received.headers["webhook-signature"].split()) == 2
    Webhook(new_secret).verify(received.body, received.headers)


async def test_the_sweep_sends_a_delivery_whose_job_was_lost(payments: PaymentsService) -> None:
    async with merchant_site(payments) as site:
        lost = uuid.uuid4()
        async with payments.runtime.database.session() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO payments_webhook_delivery (id, endpoint_id, event_id, event_type,"
                    " payload, next_attempt_at) VALUES (:id, :endpoint, :event,"
                    " 'payments.intent.succeeded', '{\"data\": {}}', now() - interval '1 hour')"
                ),
                {"id": lost, "endpoint": site.endpoint_id, "event": uuid.uuid4()},
            )
        swept = await webhook_replay.sweep_overdue(uow=payments.runtime.unit_of_work())
        delivery = await site.delivery_when(is_delivered)
    assert swept == 1
    assert delivery["id"] == str(lost)
    assert [d.headers["webhook-id"] for d in site.receiver.deliveries] == [str(lost)]


async def stale_secrets(payments: PaymentsService, current: str) -> int:
    """Endpoint secrets (current or previous) not under the key id `current`."""
    found = await payments.scalar(
        "SELECT count(*) FILTER (WHERE secret_encrypted ->> 'kid' <> :kid)"
        " + count(*) FILTER (WHERE previous_secret_encrypted ->> 'kid' <> :kid)"
        " FROM payments_webhook_endpoint",
        kid=current,
    )
    return int(found or 0)


async def test_secrets_are_re_encrypted_after_a_key_rotation_and_still_sign(
    payments: PaymentsService,
) -> None:
    services = payments.runtime.services(PaymentsServices)
    async with merchant_site(payments) as site:
        rotated = await payments.api.post(
            f"/api/v1/webhook_endpoints/{site.endpoint_id}/rotate-secret",
            headers=admin_headers(payments),
        )
        assert rotated.status_code == 200, rotated.text
        # `mercato payments keys rotate`, as another process does it: the file changes.
        ring = FieldKeyRing.load(services.field_key_file.path).rotated()
        ring.save(services.field_key_file.path)
        assert await stale_secrets(payments, ring.current) >= 2
        async with payments.runtime.unit_of_work() as uow:
            uow.defer(reencrypt_fields_job())
            await uow.commit()

        async def all_rewritten() -> bool | None:
            return await stale_secrets(payments, ring.current) == 0 or None

        await eventually(all_rewritten, what="the re-encryption job")
        assert await reencrypt_secrets(payments.runtime.database, services.field_keys) == 0
        intent_id = await site.paid_intent()
        await site.delivery_when(is_delivered)
    [received] = site.received_for(intent_id)
    assert received.verified  # the previous secret, decrypted under the new key
    Webhook(rotated.json()["secret"]).verify(received.body, received.headers)


async def test_a_worker_of_its_own_serves_its_metrics_on_loopback(
    payments: PaymentsService,
) -> None:
    """`mercato payments worker` has no HTTP app: with MERCATO_WORKER_METRICS_PORT its
    registry (merchant webhook deliveries among it) is served on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    settings = payments.runtime.settings.model_copy(update={"worker_metrics_port": port})
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, MODULES, stop))
    try:

        async def scraped() -> str | None:
            try:
                async with httpx.AsyncClient() as client:
                    answer = await client.get(f"http://127.0.0.1:{port}/metrics")
            except httpx.ConnectError:
                return None
            return answer.text

        text_body = await eventually(scraped, what="the worker's metrics server")
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
    assert "mercato_payments_webhook_delivery_attempts_total" in text_body
    assert "mercato_payments_provider_calls_total" in text_body
    with socket.socket() as closed:
        assert closed.connect_ex(("127.0.0.1", port)) != 0  # stopped with the worker
