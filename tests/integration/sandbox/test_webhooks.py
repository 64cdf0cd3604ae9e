"""Webhooks as delivered over HTTP: signed (verified by the payments adapter), retried
until a 2xx, paused and duplicated on demand, and sent once by two sandbox processes."""

from __future__ import annotations

import asyncio
import time

import pytest

from mercato.payments.providers.base import ProviderEventKind, ProviderStatus, WebhookRejected
from mercato.payments.providers.sandbox import SandboxProvider
from mercato.sandbox.app import create_sandbox_app
from tests.integration.sandbox.conftest import (
    API_KEY,
    NEW_SECRET,
    OLD_SECRET,
    Sandbox,
    sandbox_settings,
)
from tests.support.servers import bound_socket, port_of, serve_app


def _adapter(sandbox: Sandbox, *secrets: str) -> SandboxProvider:
    return SandboxProvider(base_url=sandbox.base_url, api_key=API_KEY, webhook_secrets=secrets)


async def test_deliveries_are_signed_with_every_active_secret(sandbox: Sandbox) -> None:
    paid = await sandbox.paid_intent(amount=1_500)
    [delivery] = await sandbox.receiver.wait_for(
        lambda found: len(found) == 1, object_id=paid["id"]
    )
    header = delivery.headers["sandbox-signature"]
    assert header.count("v1=") == 2  # the old and the new secret, during a rotation

    for secrets in (
        (NEW_SECRET,),
        (OLD_SECRET,),
        ("whsec_unrelated_secret_0123456789", NEW_SECRET),
    ):
        adapter = _adapter(sandbox, *secrets)
        event = adapter.verify_webhook(delivery.body, delivery.headers, now=int(time.time()))
        await adapter.aclose()
        assert event.event_type == "payment_intent.succeeded"
        assert event.kind is ProviderEventKind.PAYMENT_UPDATED
        assert event.payment is not None
        assert event.payment.provider_id == paid["id"]
        assert event.payment.status is ProviderStatus.SUCCEEDED
        assert event.payment.amount_captured == 1_500


async def test_forged_stale_and_unsigned_deliveries_are_rejected(sandbox: Sandbox) -> None:
    paid = await sandbox.paid_intent(amount=1_500)
    [delivery] = await sandbox.receiver.wait_for(
        lambda found: len(found) == 1, object_id=paid["id"]
    )
    adapter = _adapter(sandbox, NEW_SECRET)
    signed_at = int(delivery.headers["sandbox-signature"].split(",")[0].removeprefix("t="))
    try:
        forged_body = delivery.body.replace(b'"amount":1500', b'"amount":1')
        with pytest.raises(WebhookRejected):
            adapter.verify_webhook(forged_body, delivery.headers, now=signed_at)
        for now in (signed_at + 301, signed_at - 301):
            with pytest.raises(WebhookRejected):
                adapter.verify_webhook(delivery.body, delivery.headers, now=now)
        with pytest.raises(WebhookRejected):
            adapter.verify_webhook(delivery.body, {}, now=signed_at)
        other = _adapter(sandbox, "whsec_unrelated_secret_0123456789")
        with pytest.raises(WebhookRejected):
            other.verify_webhook(delivery.body, delivery.headers, now=signed_at)
        await other.aclose()
        # Within the tolerance, both ways.
        adapter.verify_webhook(delivery.body, delivery.headers, now=signed_at + 300)
        adapter.verify_webhook(delivery.body, delivery.headers, now=signed_at - 300)
    finally:
        await adapter.aclose()


async def test_a_failing_receiver_gets_the_event_again_with_backoff(sandbox: Sandbox) -> None:
    paid = await sandbox.paid_intent(metadata={"fail_webhooks": "2"})

    deliveries = await sandbox.receiver.wait_for(
        lambda found: any(d.status == 200 for d in found), object_id=paid["id"]
    )

    assert [d.status for d in deliveries] == [500, 500, 200]
    assert len({d.event["id"] for d in deliveries}) == 1
    assert len({d.body for d in deliveries}) == 1  # the very same bytes, re-signed
    first_gap = deliveries[1].at - deliveries[0].at
    second_gap = deliveries[2].at - deliveries[1].at
    assert first_gap >= 0.08  # base 0.1 s, -20 % jitter at most
    assert second_gap > first_gap * 1.1  # doubled, jitter included
    await asyncio.sleep(0.5)
    assert len(sandbox.receiver.about(paid["id"])) == 3  # nothing after the 2xx


async def test_a_receiver_that_never_recovers_is_given_up_after_the_last_attempt(
    sandbox: Sandbox,
) -> None:
    paid = await sandbox.paid_intent(metadata={"fail_webhooks": "99"})

    await sandbox.receiver.wait_for(lambda found: len(found) == 5, object_id=paid["id"])
    await asyncio.sleep(0.4)  # past the cap and its jitter: no sixth attempt

    assert len(sandbox.receiver.about(paid["id"])) == sandbox.settings.webhook_max_attempts


async def test_paused_webhooks_wait_and_are_delivered_on_resume(sandbox: Sandbox) -> None:
    await sandbox.set_faults(webhooks_paused=True)
    paid = await sandbox.paid_intent()
    await asyncio.sleep(0.3)
    assert sandbox.receiver.about(paid["id"]) == []

    await sandbox.set_faults(webhooks_paused=False)

    await sandbox.receiver.wait_for(lambda found: len(found) == 1, object_id=paid["id"])


async def test_the_duplicates_knob_delivers_every_event_twice(sandbox: Sandbox) -> None:
    await sandbox.set_faults(webhook_duplicates=True)
    paid = await sandbox.paid_intent()

    deliveries = await sandbox.receiver.wait_for(
        lambda found: len(found) == 2, object_id=paid["id"]
    )

    assert deliveries[0].event == deliveries[1].event


async def test_the_out_of_order_knob_still_delivers_everything(sandbox: Sandbox) -> None:
    await sandbox.set_faults(webhook_out_of_order=True)
    intent = await sandbox.create_intent(capture_method="manual")
    await sandbox.confirm(intent["id"], "pm_card_visa")
    await sandbox.api.post(f"/v1/payment_intents/{intent['id']}/capture", json={})

    deliveries = await sandbox.receiver.wait_for(
        lambda found: len(found) == 2, object_id=intent["id"], seconds=5
    )

    assert sorted(d.event["type"] for d in deliveries) == [
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
    ]


async def test_two_sandbox_processes_never_send_the_same_delivery_twice(sandbox: Sandbox) -> None:
    receiver = sandbox.receiver
    sock = bound_socket()
    settings = sandbox_settings(
        sandbox.database_url, port=port_of(sock), webhook_url=sandbox.settings.webhook_url or ""
    )
    async with serve_app(create_sandbox_app(settings), sock) as second_url:
        await sandbox.set_faults(webhooks_paused=True)
        second_faults = {"webhooks_paused": True}
        second = sandbox.api.build_request(
            "POST", f"{second_url}/v1/_sandbox/faults", json=second_faults
        )
        assert (await sandbox.api.send(second)).status_code == 200
        paid = [await sandbox.paid_intent(amount=100 + n) for n in range(12)]

        # Both dispatchers wake up at once, on the same 12 pending rows.
        resume = {"webhooks_paused": False}
        await asyncio.gather(
            sandbox.set_faults(**resume),
            sandbox.api.post(f"{second_url}/v1/_sandbox/faults", json=resume),
        )
        for intent in paid:
            await receiver.wait_for(lambda found: len(found) >= 1, object_id=intent["id"])
        await asyncio.sleep(0.3)

    for intent in paid:
        assert len(receiver.about(intent["id"])) == 1
