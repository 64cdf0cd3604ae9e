"""The merchant webhook retry schedule (5 s … 10 h, ±20 %), Retry-After, giving up; and
Standard Webhooks signing checked against the reference library and the spec's formula."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from mercato.payments.merchant_webhooks import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    DisableEndpoint,
    DisableReason,
    RetryAt,
    new_endpoint_secret,
    next_attempt,
    parse_retry_after,
    signature_headers,
)
from mercato.payments.merchant_webhooks.schedule import verdict_after_failure

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CHECKLIST = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600]


def test_the_schedule_is_the_checklists() -> None:
    assert [delay.total_seconds() for delay in RETRY_DELAYS] == CHECKLIST
    assert MAX_ATTEMPTS == 8


@given(attempt=st.integers(min_value=1, max_value=7), seed=st.integers(min_value=0))
def test_each_wait_is_its_step_within_20_percent(attempt: int, seed: int) -> None:
    delay = next_attempt(attempt, retry_after=None, rng=random.Random(seed))
    assert delay is not None
    base = CHECKLIST[attempt - 1]
    assert base * 0.8 <= delay.total_seconds() <= base * 1.2


def test_jitter_spreads_endpoints_that_failed_together() -> None:
    rng = random.Random(7)
    waits = {next_attempt(1, retry_after=None, rng=rng) for _ in range(20)}
    assert len(waits) == 20


def test_after_the_eighth_attempt_there_is_no_next() -> None:
    assert next_attempt(8, retry_after=None, rng=random.Random(1)) is None
    verdict = verdict_after_failure(8, retry_after=None, now=NOW, rng=random.Random(1))
    assert verdict == DisableEndpoint(DisableReason.RETRIES_EXHAUSTED)
    with pytest.raises(ValueError, match="numbered from 1"):
        next_attempt(0, retry_after=None, rng=random.Random(1))


def test_a_failed_attempt_is_retried_at_now_plus_its_wait() -> None:
    verdict = verdict_after_failure(2, retry_after=None, now=NOW, rng=random.Random(3))
    assert isinstance(verdict, RetryAt)
    assert verdict.attempt_number == 3
    assert timedelta(minutes=4) <= verdict.at - NOW <= timedelta(minutes=6)


def test_retry_after_lengthens_a_wait_but_never_shortens_it() -> None:
    long = next_attempt(1, retry_after=timedelta(minutes=10), rng=random.Random(1))
    assert long == timedelta(minutes=10)
    short = next_attempt(3, retry_after=timedelta(seconds=1), rng=random.Random(1))
    assert short is not None
    assert short >= timedelta(minutes=24)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (" 0 ", timedelta(0)),
        ("Tue, 01 Dec 2026 12:01:30 GMT", timedelta(seconds=90)),
        ("Tue, 01 Dec 2026 11:00:00 GMT", timedelta(0)),  # in the past: no wait
        ("99999999999", timedelta(hours=10)),  # capped
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date_capped(
    header: str | None, expected: timedelta | None
) -> None:
    assert parse_retry_after(header, now=NOW, cap=timedelta(hours=10)) == expected


def test_endpoint_secrets_are_whsec_and_32_random_bytes() -> None:
    secrets = {new_endpoint_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_signatures_verify_with_the_reference_library_and_the_spec_formula() -> None:
    secret = new_endpoint_secret()
    body = b'{"type":"payment.succeeded","data":{"amount":1000,"note":"caf\xc3\xa9"}}'
    at = datetime.now(UTC)
    headers = signature_headers(message_id="msg_2Lg3", body=body, signing_secrets=[secret], at=at)
    assert headers["webhook-id"] == "msg_2Lg3"
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert Webhook(secret).verify(body, headers) == {
        "type": "payment.succeeded",
        "data": {"amount": 1000, "note": "café"},
    }
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"msg_2Lg3.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


def test_during_a_rotation_each_active_secret_signs() -> None:
    current, previous = new_endpoint_secret(), new_endpoint_secret()
    body = b'{"ok":true}'
    headers = signature_headers(
        message_id="msg_1", body=body, signing_secrets=[current, previous], at=datetime.now(UTC)
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (current, previous):
        Webhook(secret).verify(body, headers)


def test_signing_refuses_a_naive_time_or_no_secret() -> None:
    with pytest.raises(ValueError, match="timezone"):
        signature_headers(
            message_id="m",
            body=b"{}",
            signing_secrets=[new_endpoint_secret()],
            at=datetime(2026, 1, 1),  # noqa: DTZ001 - the case under test
        )
    with pytest.raises(ValueError, match="secret"):
        signature_headers(message_id="m", body=b"{}", signing_secrets=[], at=NOW)


@given(attempt=st.integers(min_value=1, max_value=7), seed=st.integers(min_value=0))
def test_a_scale_shrinks_the_schedule_but_never_a_retry_after(attempt: int, seed: int) -> None:
    step = RETRY_DELAYS[attempt - 1]
    scaled = next_attempt(attempt, retry_after=None, rng=random.Random(seed), scale=1e-3)
    assert scaled is not None
    assert step * 0.8e-3 <= scaled <= step * 1.2e-3
    asked = timedelta(seconds=1)
    honoured = next_attempt(attempt, retry_after=asked, rng=random.Random(seed), scale=1e-6)
    assert honoured == asked
