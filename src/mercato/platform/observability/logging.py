"""structlog logs with the request id bound per request, and secrets redacted.

Every stdlib logger (uvicorn, SQLAlchemy, Alembic, procrastinate) goes through the same
processors, so a line has one format whoever wrote it: JSON, or a console format for a
developer's terminal (`MERCATO_ENV=development` and stderr a TTY, unless `LOG_JSON` says
otherwise). Redaction is by key name and runs before either renderer: values under keys
that look like credentials never reach the output, whatever a call site passes.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import orjson
import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from mercato.platform.config import LogSettings
from mercato.platform.observability.tracing import add_trace_ids

REDACTED = "[redacted]"
_SENSITIVE_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|authorization|cookie|api[-_]?key|private[-_]?key"
    r"|card[-_]?number|\bpan\b|cvc|cvv|otp|credential",
    re.IGNORECASE,
)


def _redact_value(key: str, value: Any) -> Any:
    if _SENSITIVE_KEY.search(key):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, item) for item in value]
    return value


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Replace the value of any credential-looking key, at any depth."""
    for key in list(event_dict):
        if key != "event":
            event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def _orjson_dumps(value: MutableMapping[str, Any], **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def shared_processors(*, console: bool = False) -> list[Processor]:
    """What every line goes through, structlog's or a library's: context, level, logger,
    time (ISO 8601 UTC in JSON; the local wall-clock time on a console), redaction."""
    timestamper = (
        structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False)
        if console
        else structlog.processors.TimeStamper(fmt="iso", utc=True)
    )
    return [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
        redact_secrets,
    ]


# procrastinate's INFO lines that say nothing went wrong: task registrations (written twice,
# by the app and by each blueprint), each periodic deferral, each job's start and success.
# A job that will be retried is still said (its INFO line carries the error).
_JOB_LINES_KEPT = frozenset({"job_error_retry", "job_aborted_retry", "job_aborted"})
# Alembic says these each time it looks at a database (every `mercato check`, every start).
_ALEMBIC_ROUTINE = ("Context impl ", "Will assume ")


class RoutineLines(logging.Filter):
    """Drops libraries' routine INFO lines (all kept at LOG_LEVEL=DEBUG): a periodic job
    would otherwise write three lines a minute, forever."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        if record.name.startswith("procrastinate"):
            return getattr(record, "action", None) in _JOB_LINES_KEPT
        if record.name == "alembic.runtime.migration":
            return not str(record.msg).startswith(_ALEMBIC_ROUTINE)
        return True


def writes_json(settings: LogSettings, *, development: bool, stream: TextIO) -> bool:
    """`LOG_JSON` when set; otherwise the console format only for a developer's terminal
    (development, and the stream a TTY): tests, pipes and services get JSON lines."""
    if settings.json_output is not None:
        return settings.json_output
    return not (development and _is_terminal(stream))


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def _renderer(as_json: bool, stream: TextIO) -> Processor:
    if as_json:
        return structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    # Never structlog's default Rich formatter: it prints every frame's local variables,
    # and a local may hold a URL with its password or a token.
    return structlog.dev.ConsoleRenderer(
        colors=_is_terminal(stream),
        exception_formatter=structlog.dev.plain_traceback,
        sort_keys=False,
    )


def configure_logging(
    settings: LogSettings, *, stream: TextIO | None = None, development: bool = False
) -> None:
    """Route structlog and stdlib logging to one stream (stderr), as JSON lines or, on a
    developer's terminal, in the console format (`writes_json`)."""
    output = stream or sys.stderr
    as_json = writes_json(settings, development=development, stream=output)
    # JSON lines carry a formatted traceback; the console renderer formats its own.
    exceptions: list[Processor] = [structlog.processors.format_exc_info] if as_json else []
    structlog.configure(
        processors=[
            *shared_processors(console=not as_json),
            *exceptions,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(console=not as_json),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exceptions,
            _renderer(as_json, output),
        ],
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(formatter)
    if settings.level != "DEBUG":
        # On the handler: a logger's filter would not see its children's records.
        handler.addFilter(RoutineLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # Our own middleware writes one access line per request; uvicorn's would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every outbound URL at INFO, query string (and any token in it) included;
    # SQLAlchemy logs every statement when its logger allows INFO, even without echo.
    for name in ("httpx", "httpcore", "sqlalchemy.engine"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
