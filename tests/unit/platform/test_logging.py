"""Credentials never reach a log line, whatever key or depth they come under."""

from __future__ import annotations

import io
import logging

import orjson
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from mercato.platform.config import LogSettings
from mercato.platform.observability.logging import REDACTED, configure_logging, redact_secrets


def test_sensitive_keys_are_redacted_at_any_depth() -> None:
    event = redact_secrets(
        None,
        "info",
        {
            "event": "login",
            "password": "hunter2",
            "headers": {"Authorization": "Bearer abc", "accept": "json"},
            "refresh_token": "rt_123",
            "items": [{"card_number": "4242424242424242"}],
            "email": "a@example.com",
        },
    )
    assert event["password"] == REDACTED
    assert event["headers"] == {"Authorization": REDACTED, "accept": "json"}
    assert event["refresh_token"] == REDACTED
    assert event["items"] == [{"card_number": REDACTED}]
    assert event["email"] == "a@example.com"


@settings(deadline=None)  # a slow CI machine must not fail a property
@given(
    key=st.sampled_from(["password", "new_password", "api_key", "client_secret", "Cookie"]),
    value=st.text(min_size=8, alphabet=st.characters(categories=["L", "N"])),
)
def test_redaction_holds_for_any_value(key: str, value: str) -> None:
    event = redact_secrets(None, "info", {"event": "x", key: value})
    assert value not in orjson.dumps(event).decode()


def test_stdlib_and_structlog_lines_are_json_and_redacted() -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(), stream=stream)
    structlog.get_logger("test").info("signed_in", password="hunter2", user_id=7)
    logging.getLogger("library").warning("plain %s", "message")
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "signed_in"
    assert lines[0]["user_id"] == 7
    assert lines[0]["password"] == REDACTED
    assert lines[1]["event"] == "plain message"
    assert lines[1]["level"] == "warning"
    assert "hunter2" not in stream.getvalue()
