"""The one clock: aware UTC datetimes (a naive datetime is a bug waiting for a DST day)."""

from __future__ import annotations

import datetime as dt


def utc_now() -> dt.datetime:
    """Now, in UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)
