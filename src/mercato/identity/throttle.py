"""Brute-force protection for sign-in: failure counters in PostgreSQL.

Three keys are counted for each failed sign-in: the account, the client IP, and the pair.
Past a free allowance each further failure holds the key back for twice as long as the
previous one (1 s, 2 s, 4 s ... capped at 15 minutes): slow for an attacker, never a
permanent lock-out an attacker could inflict on a victim. A held-back attempt gets exactly
the answer of a wrong password. Counting is one `INSERT ... ON CONFLICT DO UPDATE` per
key, so fifty parallel failures count fifty (the row lock serialises them).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.identity.models import LoginThrottle

MAX_DELAY_S = 15 * 60


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    key: str
    free_failures: int


def keys_for(email: str, ip: str | None) -> tuple[ThrottleKey, ...]:
    address = ip or "unknown"
    return (
        ThrottleKey(f"account:{email}", free_failures=5),
        ThrottleKey(f"ip:{address}", free_failures=50),
        ThrottleKey(f"account_ip:{email}|{address}", free_failures=3),
    )


async def held_back(session: AsyncSession, keys: tuple[ThrottleKey, ...]) -> bool:
    """True while any of the keys is held back."""
    held = await session.scalar(
        select(func.count())
        .select_from(LoginThrottle)
        .where(
            LoginThrottle.key.in_([key.key for key in keys]),
            LoginThrottle.locked_until > func.now(),
        )
    )
    return bool(held)


_RECORD_FAILURE = text(
    """
    INSERT INTO identity_login_throttle (key, failures, locked_until, updated_at)
    VALUES (:key, 1, NULL, now())
    ON CONFLICT (key) DO UPDATE SET
        failures = identity_login_throttle.failures + 1,
        updated_at = now(),
        locked_until = CASE
            WHEN identity_login_throttle.failures + 1 > :free THEN now() + make_interval(
                secs => least(:max_delay, power(2, identity_login_throttle.failures - :free))
            )
            ELSE NULL
        END
    """
)


async def record_failure(session: AsyncSession, keys: tuple[ThrottleKey, ...]) -> None:
    for key in keys:
        await session.execute(
            _RECORD_FAILURE, {"key": key.key, "free": key.free_failures, "max_delay": MAX_DELAY_S}
        )


async def record_success(session: AsyncSession, keys: tuple[ThrottleKey, ...]) -> None:
    """A successful sign-in clears the account's counters (not the IP's)."""
    await session.execute(
        update(LoginThrottle)
        .where(
            LoginThrottle.key.in_([key.key for key in keys if not key.key.startswith("ip:")]),
            or_(LoginThrottle.failures > 0, LoginThrottle.locked_until.is_not(None)),
        )
        .values(failures=0, locked_until=None, updated_at=func.now())
    )
