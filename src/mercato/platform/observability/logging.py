"""structlog JSON logs with the request id bound per request, and secrets redacted.

Every stdlib logger (uvicorn, SQLAlchemy, Alembic) goes through the same processors, so a
line is JSON whoever wrote it. Redaction is by key name: values under keys that look like
credentials never reach the output, whatever a call site passes.
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


def shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]


def configure_logging(settings: LogSettings, *, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to one JSON (or console) stream (stderr)."""
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if settings.json_output
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            *shared_processors(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
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
