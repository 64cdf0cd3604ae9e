"""Capturing every log line (structlog and stdlib) as the application would write it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import structlog

from mercato.platform.config import LogSettings
from mercato.platform.observability.logging import configure_logging


class CapturedLogs:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def lines(self, event: str | None = None) -> list[dict[str, Any]]:
        parsed = [orjson.loads(line) for line in self.text.splitlines() if line.strip()]
        return [line for line in parsed if event is None or line.get("event") == event]


@contextmanager
def captured_logs() -> Iterator[CapturedLogs]:
    """JSON log lines at DEBUG into memory; the previous configuration is restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    stream = io.StringIO()
    configure_logging(LogSettings(level="DEBUG"), stream=stream)
    try:
        yield CapturedLogs(stream)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)
