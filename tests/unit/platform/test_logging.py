"""Credentials never reach a log line, whatever key or depth they come under."""

from __future__ import annotations

import io
import logging
from typing import Any

import orjson
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from mercato.platform.config import LogSettings
from mercato.platform.observability.logging import (
    REDACTED,
    configure_logging,
    redact_secrets,
    writes_json,
)


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
    assert event[key] == REDACTED
    assert value not in orjson.dumps(event["event"]).decode()


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


class _Terminal(io.StringIO):
    """An in-memory stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _restoring_logging() -> tuple[list[logging.Handler], int, dict[str, Any]]:
    root = logging.getLogger()
    return root.handlers[:], root.level, structlog.get_config()


def _restore(saved: tuple[list[logging.Handler], int, dict[str, Any]]) -> None:
    handlers, level, config = saved
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


def test_a_developers_terminal_gets_the_console_format_and_everything_else_json() -> None:
    assert not writes_json(LogSettings(), development=True, stream=_Terminal())
    assert writes_json(LogSettings(), development=True, stream=io.StringIO())  # a pipe
    assert writes_json(LogSettings(), development=False, stream=_Terminal())  # a service
    # LOG_JSON, when set, wins either way.
    assert writes_json(LogSettings(LOG_JSON=True), development=True, stream=_Terminal())
    assert not writes_json(LogSettings(LOG_JSON=False), development=False, stream=io.StringIO())


def test_the_console_format_redacts_secrets_and_prints_no_local_variables() -> None:
    saved = _restoring_logging()
    stream = _Terminal()
    try:
        configure_logging(LogSettings(), stream=stream, development=True)
        structlog.get_logger("test").info("signed_in", password="hunter2", user_id=7)
        database_url = "postgresql://app:TopSecretLocal@db/shop"
        try:
            raise RuntimeError(f"cannot reach the database ({len(database_url)} chars)")
        except RuntimeError:
            structlog.get_logger("test").exception("crashed")
            logging.getLogger("library").exception("stdlib crashed")
    finally:
        _restore(saved)
    text = stream.getvalue()
    assert "signed_in" in text
    assert "user_id" in text
    assert REDACTED in text
    assert "hunter2" not in text
    assert "RuntimeError: cannot reach the database" in text
    assert "TopSecretLocal" not in text  # frames' locals are never printed
    assert not text.lstrip().startswith("{")


def _job_record(message: str, *, level: int = logging.INFO, action: str) -> logging.LogRecord:
    record = logging.LogRecord("procrastinate.worker", level, __file__, 1, message, None, None)
    record.action = action
    return record


def test_routine_job_lines_are_quiet_and_retries_and_failures_are_not() -> None:
    saved = _restoring_logging()
    stream = io.StringIO()
    try:
        configure_logging(LogSettings(), stream=stream)
        root = logging.getLogger()
        for action in ("registering_periodic_task", "loading_blueprint", "start_job"):
            root.handlers[0].handle(_job_record(f"routine {action}", action=action))
        root.handlers[0].handle(_job_record("periodic deferred", action="periodic_task_deferred"))
        root.handlers[0].handle(_job_record("ended: Success", action="job_success"))
        root.handlers[0].handle(_job_record("ended: Error, to retry", action="job_error_retry"))
        failed = _job_record("ended: Error", level=logging.ERROR, action="job_error")
        root.handlers[0].handle(failed)
        logging.getLogger("alembic.runtime.migration").info("Context impl PostgresqlImpl.")
        logging.getLogger("alembic.runtime.migration").info("Running upgrade 0001 -> 0002")
    finally:
        _restore(saved)
    events = [orjson.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["ended: Error, to retry", "ended: Error", "Running upgrade 0001 -> 0002"]


def test_at_debug_level_every_job_line_is_kept() -> None:
    saved = _restoring_logging()
    stream = io.StringIO()
    try:
        configure_logging(LogSettings(level="DEBUG"), stream=stream)
        logging.getLogger().handlers[0].handle(_job_record("ended: Success", action="job_success"))
    finally:
        _restore(saved)
    assert "ended: Success" in stream.getvalue()
