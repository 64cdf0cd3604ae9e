"""Merchant webhook deliveries to a real receiver on 127.0.0.1 that verifies signatures with
the reference Standard Webhooks library: verdicts for 2xx, 5xx, 410, 429 + Retry-After,
redirects, timeouts and refused connections; SSRF refusals; pinned TLS."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mercato.payments.config import MerchantWebhookSettings
from mercato.payments.merchant_webhooks import (
    Delivered,
    DisableEndpoint,
    DisableReason,
    RetryAt,
    WebhookEndpoint,
    WebhookMessage,
    deliver,
    new_delivery_client,
    new_endpoint_secret,
)
from mercato.payments.merchant_webhooks.delivery import DeliveryAttempt
from tests.integration.payments.conftest import RunningReceiver
from tests.support.local_server import serving, unused_port
from tests.support.logs import captured_logs
from tests.support.merchant_receiver import Answer, WebhookReceiver
from tests.support.tls import ThrowawayAuthority

SETTINGS = MerchantWebhookSettings(timeout_s=0.5, allowed_private_targets=("localhost",))
MESSAGE = WebhookMessage(
    id="msg_0193a1b2c3d4",
    event_type="payment.succeeded",
    body=b'{"type":"payment.succeeded","data":{"payment_id":"pay_1","amount":1000}}',
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with new_delivery_client(SETTINGS) as client:
        yield client


@pytest.fixture
def receiver(running_receiver: RunningReceiver) -> RunningReceiver:
    running_receiver.receiver.reset(secret=new_endpoint_secret())
    return running_receiver


def endpoint_for(receiver: RunningReceiver, *, host: str = "localhost") -> WebhookEndpoint:
    secret = receiver.receiver.secret
    assert secret is not None
    return WebhookEndpoint(
        id="ep_1",
        url=f"http://{host}:{receiver.port}/hooks/merchant-1?token=t0k3n",
        signing_secrets=(secret,),
    )


async def send(
    client: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
    *,
    attempt: int = 1,
    settings: MerchantWebhookSettings = SETTINGS,
) -> DeliveryAttempt:
    return await deliver(
        MESSAGE,
        endpoint=endpoint,
        attempt_number=attempt,
        client=client,
        settings=settings,
        now=datetime.now(UTC),
        rng=random.Random(1),
    )


def answering(receiver: RunningReceiver, *answers: Answer) -> WebhookReceiver:
    assert receiver.receiver.secret is not None
    receiver.receiver.reset(secret=receiver.receiver.secret, answers=list(answers))
    return receiver.receiver


async def test_a_2xx_is_delivered_signed_and_pinned_to_the_checked_address(
    client: httpx.AsyncClient, receiver: RunningReceiver
) -> None:
    attempt = await send(client, endpoint_for(receiver))
    assert attempt.verdict == Delivered(200)
    assert attempt.response_excerpt == b"ok"
    assert attempt.address == "127.0.0.1"
    [delivery] = receiver.receiver.deliveries
    assert delivery.verified
    assert delivery.body == MESSAGE.body
    assert delivery.headers["webhook-id"] == MESSAGE.id
    assert delivery.headers["host"] == f"localhost:{receiver.port}"
    assert delivery.headers["content-type"] == "application/json"


async def test_the_webhook_id_is_the_same_on_every_attempt(
    client: httpx.AsyncClient, receiver: RunningReceiver
) -> None:
    answering(receiver, Answer(500), Answer(200))
    first = await send(client, endpoint_for(receiver), attempt=1)
    second = await send(client, endpoint_for(receiver), attempt=2)
    assert isinstance(first.verdict, RetryAt)
    assert second.verdict == Delivered(200)
    ids = {d.headers["webhook-id"] for d in receiver.receiver.deliveries}
    assert ids == {MESSAGE.id}
    assert all(d.verified for d in receiver.receiver.deliveries)


async def test_a_5xx_is_retried_on_schedule_and_its_body_kept(
    client: httpx.AsyncClient, receiver: RunningReceiver
) -> None:
    answering(receiver, Answer(500, body=b"database down"))
    before = datetime.now(UTC)
    attempt = await send(client, endpoint_for(receiver), attempt=1)
    assert isinstance(attempt.verdict, RetryAt)
    assert attempt.verdict.attempt_number == 2
    assert timedelta(seconds=4) <= attempt.verdict.at - before <= timedelta(seconds=7)
    assert (attempt.status_code, attempt.error) == (500, "http_500")
    assert attempt.response_excerpt == b"database down"


async def test_failing_the_eighth_attempt_disables_the_endpoint(
    client: httpx.AsyncClient, receiver: RunningReceiver
) -> None:
    answering(receiver, Answer(503))
    attempt = await send(client, endpoint_for(receiver), attempt=8)
    assert attempt.verdict == DisableEndpoint(DisableReason.RETRIES_EXHAUSTED)


async def test_410_gone_disables_the_endpoint_at_once(
    client: httpx.AsyncClient, receiver: RunningReceiver
) -> None:
    answering(receiver, Answer(410))
    attempt = await send(client, endpoint_for(receiver), attempt=1)
    assert attempt.verdict == DisableEndpoint(DisableReason.GONE)


@pytest.mark.parametrize(
    ("retry_after", "at_least"),
    [("600", timedelta(seconds=600)), ("Tue, 01 Dec 2099 00:00:00 GMT", timedelta(hours=10))],
)
async def test_retry_after_is_honoured_and_capped(
    client: httpx.AsyncClient, receiver: RunningReceiver, retry_after: str, at_least: timedelta
) -> None:
    answering(receiver, Answer(429, headers={"Retry-After": retry_after}))
    before = datetime.now(UTC)
    attempt = await send(client, endpoint_for(receiver), attempt=1)
    assert isinstance(attempt.verdict, RetryAt)
    assert at_least <= attempt.verdict.at - before <= at_least + timedelta(seconds=5)


async def test_redirects_are_not_followed(
    client: httpx.AsyncClient, receiver: RunningReceiver
) -> None:
    answering(receiver, Answer(307, headers={"Location": "http://169.254.169.254/latest"}))
    attempt = await send(client, endpoint_for(receiver))
    assert isinstance(attempt.verdict, RetryAt)
    assert attempt.error == "http_307"
    assert len(receiver.receiver.deliveries) == 1


async def test_a_slow_receiver_times_out_and_is_retried(
    client: httpx.AsyncClient, receiver: RunningReceiver
) -> None:
    answering(receiver, Answer(200, delay_s=1.5))
    attempt = await send(client, endpoint_for(receiver))
    assert isinstance(attempt.verdict, RetryAt)
    assert attempt.error == "timeout"
    assert attempt.duration_ms < 1_000


async def test_only_the_first_bytes_of_a_big_answer_are_kept(
    client: httpx.AsyncClient, receiver: RunningReceiver
) -> None:
    answering(receiver, Answer(200, body=b"x" * 200_000))
    attempt = await send(client, endpoint_for(receiver))
    assert attempt.verdict == Delivered(200)
    assert len(attempt.response_excerpt) == 4_096


async def test_a_refused_connection_is_retried(client: httpx.AsyncClient) -> None:
    endpoint = WebhookEndpoint("ep_2", f"http://localhost:{unused_port()}/", ("whsec_QUJD",))
    attempt = await send(client, endpoint)
    assert isinstance(attempt.verdict, RetryAt)
    assert attempt.error == "connect_error"


async def test_loopback_targets_are_refused_without_the_allow_list(
    client: httpx.AsyncClient, receiver: RunningReceiver
) -> None:
    strict = MerchantWebhookSettings(timeout_s=0.5)
    for host in ("localhost", "127.0.0.1", "[::ffff:127.0.0.1]"):
        attempt = await send(client, endpoint_for(receiver, host=host), settings=strict)
        assert isinstance(attempt.verdict, RetryAt)
        assert attempt.error == "target_refused"
    assert receiver.receiver.deliveries == []


async def test_an_undeliverable_url_disables_the_endpoint(client: httpx.AsyncClient) -> None:
    endpoint = WebhookEndpoint("ep_3", "ftp://files.example.com/in", ("whsec_QUJD",))
    attempt = await send(client, endpoint)
    assert attempt.verdict == DisableEndpoint(DisableReason.INVALID_TARGET)


async def test_no_secret_token_or_payload_reaches_the_logs(
    client: httpx.AsyncClient, receiver: RunningReceiver
) -> None:
    answering(receiver, Answer(500), Answer(200))
    endpoint = endpoint_for(receiver)
    with captured_logs() as logs:
        await send(client, endpoint, attempt=1)
        await send(client, endpoint, attempt=2)
    lines = logs.lines("merchant_webhook_attempt")
    assert [line["status"] for line in lines] == [500, 200]
    assert [line["verdict"] for line in lines] == ["RetryAt", "Delivered"]
    for secret in (endpoint.signing_secrets[0], "t0k3n", "pay_1", "webhook-signature"):
        assert secret not in logs.text
    assert "t0k3n" not in repr(endpoint)


async def test_https_is_pinned_and_still_checks_the_certificate_name(tmp_path: Path) -> None:
    authority = ThrowawayAuthority()
    receiver = WebhookReceiver()
    receiver.reset(secret=new_endpoint_secret())
    assert receiver.secret is not None
    for name, expected in (("localhost", Delivered(200)), ("other.example", None)):
        certificate = authority.issue(name, directory=tmp_path)
        async with (
            serving(
                receiver.app,
                ssl_certfile=str(certificate.certfile),
                ssl_keyfile=str(certificate.keyfile),
            ) as url,
            new_delivery_client(SETTINGS, verify=authority.client_context()) as client,
        ):
            port = int(url.rsplit(":", 1)[1])
            endpoint = WebhookEndpoint("ep_tls", f"https://localhost:{port}/in", (receiver.secret,))
            attempt = await send(client, endpoint)
        if expected is not None:
            assert attempt.verdict == expected  # SNI "localhost" over a connection to 127.0.0.1
        else:
            assert attempt.error == "connect_error"  # a certificate for another name
    assert len(receiver.deliveries) == 1
    assert receiver.deliveries[0].verified
