"""When a merchant webhook is tried again, and when we give up: pure functions.

The schedule (Svix's, from the payments checklist): after the first attempt fails, wait
5 s, then 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each ±20 % at random so that endpoints that
failed together are not retried together. A receiver's `Retry-After` (seconds or an HTTP
date, capped) lengthens a wait, never shortens it. After the eighth attempt fails, or at
once on 410 Gone, the endpoint is disabled and `endpoint.disabled` raised.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.2


class DisableReason(StrEnum):
    GONE = "gone"  # the receiver answered 410: it asked us to stop
    RETRIES_EXHAUSTED = "retries_exhausted"  # sustained failure over the whole schedule
    INVALID_TARGET = "invalid_target"  # the URL cannot be delivered to (scheme, credentials)


@dataclass(frozen=True, slots=True)
class Delivered:
    """The receiver answered 2xx: the message is delivered."""

    status: int


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Not delivered yet: attempt `attempt_number` is due at `at`."""

    at: datetime
    attempt_number: int


@dataclass(frozen=True, slots=True)
class DisableEndpoint:
    """Stop: disable the endpoint and raise `endpoint.disabled` with the reason. Messages
    still pending for it wait for a manual replay once the merchant re-enables it."""

    reason: DisableReason


DeliveryVerdict = Delivered | RetryAt | DisableEndpoint


def next_attempt(
    attempt_number: int,
    *,
    retry_after: timedelta | None,
    rng: random.Random,
    scale: float = 1.0,
) -> timedelta | None:
    """How long to wait after attempt `attempt_number` (1-based) failed, or None when the
    schedule is exhausted and the endpoint is to be disabled. `scale` shrinks the schedule
    (tests), never a receiver's Retry-After."""
    if attempt_number < 1:
        raise ValueError("attempts are numbered from 1")
    if attempt_number > len(RETRY_DELAYS):
        return None
    delay = RETRY_DELAYS[attempt_number - 1] * scale * rng.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None and retry_after > delay:
        return retry_after
    return delay


def verdict_after_failure(
    attempt_number: int,
    *,
    retry_after: timedelta | None,
    now: datetime,
    rng: random.Random,
    scale: float = 1.0,
) -> RetryAt | DisableEndpoint:
    """The verdict for a failed attempt: retry on schedule, or give up."""
    delay = next_attempt(attempt_number, retry_after=retry_after, rng=rng, scale=scale)
    if delay is None:
        return DisableEndpoint(DisableReason.RETRIES_EXHAUSTED)
    return RetryAt(at=now + delay, attempt_number=attempt_number + 1)


def parse_retry_after(value: str | None, *, now: datetime, cap: timedelta) -> timedelta | None:
    """A `Retry-After` header as a delay: delta-seconds or an HTTP date, at most `cap`;
    None if absent or unreadable (a date in the past reads as no wait)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value[:12]))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = max(when - now, timedelta(0))
    return min(delay, cap)
