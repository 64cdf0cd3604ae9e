"""Brute-force protection for sign-in: failure counters in PostgreSQL, per client.

Each sign-in is judged against a few keys, and counted on them *before* its password is
checked (`claim`), so that parallel guesses cannot outrun the counter: every attempt is
either counted or held back, none is judged uncounted.

- From an unknown client: the account, the client IP, and the account+IP pair.
- From a known device (a device token of this account, `known_devices`): the device and
  the account+IP pair. Failures elsewhere, however many, never hold the owner's known
  device back; its own failures do.

Past a free allowance each further counted failure holds the key back for twice as long as
the previous one (1 s, 2 s, 4 s ... capped at 15 minutes). An attempt made while a key is
held back is *not* counted (so it never extends the hold, whoever sends it), gets exactly
the answer of a wrong password, and is never judged by its password, except for one thing:
when only the account key holds an unknown client back and the password is right, the
owner is mailed a sign-in link (a device token) instead (`sign_in`). A successful sign-in
clears the account's keys (and undoes its count on the IP's); a password reset or change
clears every key of the account. Keys quiet for a day are forgotten (`forget_quiet_keys`,
hourly).

Small windows of the same table say when the owner was last told by mail (`claim_window`):
at most one "someone is guessing your password" mail per hour, one sign-in link per
quarter of an hour.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, or_, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Integer, String

from mercato.identity.models import LoginThrottle
from mercato.platform.db.database import Database

MAX_DELAY_S = 15 * 60
QUIET = dt.timedelta(days=1)
ACCOUNT, IP, ACCOUNT_IP, DEVICE = "account", "ip", "account_ip", "device"


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    key: str
    free_failures: int

    @property
    def kind(self) -> str:
        return self.key.split(":", 1)[0]


def keys_for(email: str, ip: str | None, *, device_id: str | None) -> tuple[ThrottleKey, ...]:
    """The keys a sign-in is judged against: an unknown client's, or a known device's."""
    address = ip or "unknown"
    pair = ThrottleKey(f"{ACCOUNT_IP}:{email}|{address}", free_failures=3)
    if device_id is not None:
        return (ThrottleKey(f"{DEVICE}:{email}|{device_id}", free_failures=3), pair)
    return (
        ThrottleKey(f"{ACCOUNT}:{email}", free_failures=5),
        ThrottleKey(f"{IP}:{address}", free_failures=50),
        pair,
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """The attempt was counted (`admitted`), or held back by the keys of `held_by`."""

    admitted: bool
    held_by: frozenset[str] = frozenset()
    # This attempt's count put the account key past its allowance (someone is guessing).
    account_held: bool = False


# Creates missing rows and locks all of the attempt's rows (a no-op update takes the row
# lock), in key order so that concurrent claims never deadlock.
_LOCK_KEYS = text(
    """
    INSERT INTO identity_login_throttle AS t (key, failures, updated_at)
    SELECT k, 0, now() FROM unnest(:keys) AS k ORDER BY k
    ON CONFLICT (key) DO UPDATE SET failures = t.failures
    RETURNING t.key, coalesce(t.locked_until > now(), false) AS held
    """
).bindparams(bindparam("keys", type_=ARRAY(String())))

_COUNT = text(
    """
    UPDATE identity_login_throttle AS t SET
        failures = t.failures + 1,
        updated_at = now(),
        locked_until = CASE
            WHEN t.failures + 1 > v.free THEN now() + make_interval(
                secs => least(:max_delay, power(2, t.failures - v.free))
            )
        END
    FROM unnest(:keys, :frees) AS v (key, free)
    WHERE t.key = v.key
    RETURNING t.key, t.locked_until IS NOT NULL AS held
    """
).bindparams(bindparam("keys", type_=ARRAY(String())), bindparam("frees", type_=ARRAY(Integer())))


async def claim(session: AsyncSession, keys: tuple[ThrottleKey, ...]) -> Claim:
    """Count this attempt on every key, unless one of them holds it back (then nothing is
    counted). The row locks serialise concurrent claims: fifty parallel guesses are fifty
    claims, of which those past the allowance are held back."""
    names = sorted(key.key for key in keys)
    rows = (await session.execute(_LOCK_KEYS, {"keys": names})).all()
    held = frozenset(_kind(row.key) for row in rows if row.held)
    if held:
        return Claim(admitted=False, held_by=held)
    counted = (
        await session.execute(
            _COUNT,
            {
                "keys": [key.key for key in keys],
                "frees": [key.free_failures for key in keys],
                "max_delay": MAX_DELAY_S,
            },
        )
    ).all()
    account_held = any(row.held and _kind(row.key) == ACCOUNT for row in counted)
    return Claim(admitted=True, account_held=account_held)


async def record_success(session: AsyncSession, keys: tuple[ThrottleKey, ...]) -> None:
    """The password was right: the account's keys start afresh, and the IP's count of this
    attempt is taken back (a shop's office signing in all day is not failing)."""
    cleared = [key.key for key in keys if key.kind != IP]
    undone = [key.key for key in keys if key.kind == IP]
    if cleared:
        await session.execute(
            text(
                "UPDATE identity_login_throttle SET failures = 0, locked_until = NULL,"
                " updated_at = now() WHERE key = ANY(:keys)"
            ).bindparams(bindparam("keys", type_=ARRAY(String()))),
            {"keys": cleared},
        )
    if undone:
        await session.execute(
            text(
                "UPDATE identity_login_throttle SET failures = greatest(failures - 1, 0),"
                " locked_until = NULL, updated_at = now() WHERE key = ANY(:keys)"
            ).bindparams(bindparam("keys", type_=ARRAY(String()))),
            {"keys": undone},
        )


async def clear_account(session: AsyncSession, email: str) -> None:
    """Forget every failure of the account, from every client (a password reset or change:
    the owner has proved themselves another way)."""
    prefixes = [f"{ACCOUNT}:{email}", f"{ACCOUNT_IP}:{email}|", f"{DEVICE}:{email}|"]
    await session.execute(
        delete(LoginThrottle).where(
            or_(
                LoginThrottle.key == prefixes[0],
                *(func.left(LoginThrottle.key, len(p)) == p for p in prefixes[1:]),
            )
        )
    )


async def claim_window(session: AsyncSession, name: str, *, every: dt.timedelta) -> bool:
    """True at most once per `every` for `name` (`notice:<email>`...): whoever gets True
    does the thing (send the mail); concurrent callers get False."""
    claimed = await session.scalar(
        text(
            """
            INSERT INTO identity_login_throttle AS t (key, failures, locked_until, updated_at)
            VALUES (:key, 1, now() + make_interval(secs => :seconds), now())
            ON CONFLICT (key) DO UPDATE SET
                failures = t.failures + 1,
                locked_until = now() + make_interval(secs => :seconds),
                updated_at = now()
            WHERE t.locked_until IS NULL OR t.locked_until <= now()
            RETURNING t.key
            """
        ),
        {"key": name, "seconds": every.total_seconds()},
    )
    return claimed is not None


async def forget_quiet_keys(database: Database, *, quiet_for: dt.timedelta = QUIET) -> int:
    """Delete the keys nothing happened to for `quiet_for` and that hold nothing back: a
    day of quiet starts a client afresh (delays are a brake, never a record)."""
    async with database.session() as session, session.begin():
        result = await session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.updated_at < func.now() - quiet_for,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < func.now()),
            )
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _kind(key: str) -> str:
    return key.split(":", 1)[0]
