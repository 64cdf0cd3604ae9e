"""Idempotency keys for creating POSTs (Stripe's semantics).

A client that may retry sends `Idempotency-Key: <its own unique value>`. The key is scoped
to the caller and claimed atomically (`INSERT … ON CONFLICT DO NOTHING`), with a
fingerprint of the request (method, path, body):

- first request: runs; its response (status, body, a few headers) is stored;
- same key, same request, finished: the stored response, with `Idempotent-Replayed: true`;
- same key while the first is still running: 409, nothing done;
- same key, different request: 422;
- a request that fails (any error) releases its key, so the retry runs for real.

Keys are kept 24 hours (a periodic job reaps them). The response is stored in its own
transaction right after the use case commits; if the process dies in between, the key
stays "in flight" for `ABANDONED_AFTER` and is then reclaimed by the next retry, which runs
again (creations guard that case with their own unique constraints: SKU, slug...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import DateTime, Integer, LargeBinary, String, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request
from starlette.responses import Response

from mercato.platform.db.database import Database
from mercato.platform.db.metadata import Base
from mercato.platform.db.uow import UnitOfWork
from mercato.platform.errors import BadRequest, Conflict, Invalid

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION = dt.timedelta(hours=24)
ABANDONED_AFTER = dt.timedelta(minutes=5)
MAX_KEY_LENGTH = 255
# Headers worth replaying; the rest (request id, rate limits, dates) belong to each answer.
_STORED_HEADERS = ("location", "etag", "content-type")


class IdempotencyKey(Base):
    __tablename__ = "platform_idempotency_key"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency-key-in-flight"
    title = "A request with this Idempotency-Key is still being processed"


class IdempotencyKeyRequired(BadRequest):
    code = "idempotency-key-required"
    title = "This request needs an Idempotency-Key"


class IdempotencyKeyReused(Invalid):
    code = "idempotency-key-reused"
    title = "This Idempotency-Key was used for a different request"


class Guard:
    """One claimed key: `replay` is the stored answer when there is one; otherwise run the
    use case and hand its response to `finish`."""

    def __init__(self, database: Database, scope: str | None, key: str | None) -> None:
        self._database = database
        self._scope = scope
        self._key = key
        self.replay: Response | None = None

    @property
    def claimed(self) -> bool:
        return self._key is not None and self.replay is None

    async def finish(self, response: Response) -> Response:
        if not self.claimed:
            return response
        assert self._scope is not None
        assert self._key is not None
        async with self._database.session() as session, session.begin():
            await complete_in(session, scope=self._scope, key=self._key, response=response)
        self._key = None  # finished: nothing to release
        return response

    async def release(self) -> None:
        if not self.claimed:
            return
        assert self._scope is not None
        assert self._key is not None
        async with self._database.session() as session, session.begin():
            await release_in(session, scope=self._scope, key=self._key)


def _checked_key(raw: str) -> str:
    key = raw.strip()
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise Invalid(
            f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII characters.",
            errors=[{"in": "header", "pointer": f"/{HEADER}", "detail": "invalid key"}],
        )
    return key


async def fingerprint_of(request: Request) -> bytes:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b" ")
    digest.update(request.url.path.encode())
    digest.update(b"\n")
    digest.update(await request.body())
    return digest.digest()


@asynccontextmanager
async def idempotent(request: Request, database: Database, *, scope: str) -> AsyncIterator[Guard]:
    """Claim the request's Idempotency-Key (if it sent one) for `scope` (e.g. the user)."""
    claim = await KeyClaim.optional(request, scope=scope)
    if claim is None:
        yield Guard(database, None, None)
        return
    guard = Guard(database, scope, claim.key)
    guard.replay = await _claim(database, scope=scope, key=claim.key, fingerprint=claim.fingerprint)
    try:
        yield guard
    except BaseException:
        await guard.release()
        raise
    if guard.claimed:  # the route returned without finishing: keep nothing half-done
        await guard.release()


async def _claim(
    database: Database, *, scope: str, key: str, fingerprint: bytes
) -> Response | None:
    """None when this request now owns the key; the stored response to replay otherwise."""
    async with database.session() as session, session.begin():
        return await claim_in(session, scope=scope, key=key, fingerprint=fingerprint)


async def claim_in(
    session: AsyncSession, *, scope: str, key: str, fingerprint: bytes
) -> Response | None:
    """Claim a key in the caller's transaction (committed, or rolled back, with the use
    case's own writes): None when this request now owns it, else the response to replay.
    A concurrent first request holding the key is waited for (its row lock), then replayed."""
    claimed = await session.scalar(
        insert(IdempotencyKey)
        .values(scope=scope, key=key, fingerprint=fingerprint)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    )
    if claimed is not None:
        return None
    return await _claimed_before(session, scope=scope, key=key, fingerprint=fingerprint)


async def _claimed_before(
    session: AsyncSession, *, scope: str, key: str, fingerprint: bytes
) -> Response | None:
    """The key was there already: reclaimed (None), replayed, or refused."""
    # Someone has it: reclaim it only if it was abandoned (its process died mid-request).
    reclaimed = await session.scalar(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
            IdempotencyKey.fingerprint == fingerprint,
            IdempotencyKey.completed_at.is_(None),
            IdempotencyKey.created_at < func.now() - ABANDONED_AFTER,
        )
        .values(created_at=func.now())
        .returning(IdempotencyKey.key)
    )
    if reclaimed is not None:
        return None
    stored = await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    )
    if stored is None:  # released between our insert and our read: the client may retry
        raise IdempotencyKeyInFlight("Retry the request.")
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with another method, path or body.",
            errors=[{"in": "header", "pointer": f"/{HEADER}", "detail": "reused key"}],
        )
    if stored.completed_at is None or stored.response_status is None:
        raise IdempotencyKeyInFlight("The first request with this key is still running.")
    return Response(
        content=stored.response_body or b"",
        status_code=stored.response_status,
        headers={**(stored.response_headers or {}), REPLAYED_HEADER: "true"},
    )


async def complete_in(session: AsyncSession, *, scope: str, key: str, response: Response) -> None:
    """Store the response of a key claimed with `claim_in`, in the same transaction."""
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        .values(
            completed_at=func.now(),
            response_status=response.status_code,
            response_headers=_replayed_headers(response),
            response_body=bytes(response.body),
        )
    )


async def release_in(session: AsyncSession, *, scope: str, key: str) -> None:
    """Give up a claim not yet completed: the retry runs for real."""
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
            IdempotencyKey.completed_at.is_(None),
        )
    )


def _replayed_headers(response: Response) -> dict[str, str]:
    return {
        name: value for name, value in response.headers.items() if name.lower() in _STORED_HEADERS
    }


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """A request's key, to claim in a use case's own transaction (`claim_in`)."""

    scope: str
    key: str
    fingerprint: bytes

    @classmethod
    async def of(cls, request: Request, *, scope: str) -> KeyClaim:
        """The claim of a request that must carry a key (400 without one)."""
        return cls(scope, required_key(request), await fingerprint_of(request))

    @classmethod
    async def optional(cls, request: Request, *, scope: str) -> KeyClaim | None:
        """The claim of a request that may carry a key; None without one."""
        raw = request.headers.get(HEADER)
        if raw is None:
            return None
        return cls(scope, _checked_key(raw), await fingerprint_of(request))

    async def claim_in(self, session: AsyncSession) -> Response | None:
        return await claim_in(session, scope=self.scope, key=self.key, fingerprint=self.fingerprint)

    async def complete_in(self, session: AsyncSession, response: Response) -> None:
        await complete_in(session, scope=self.scope, key=self.key, response=response)

    async def release_in(self, session: AsyncSession) -> None:
        await release_in(session, scope=self.scope, key=self.key)

    async def claim_on(self, uow: UnitOfWork) -> Response | None:
        """`claim_in` for a hot path: the claim as a compiled statement (`uow.fetch`)."""
        query = uow.queries.get("platform.idempotency.claim", lambda: _CLAIM)
        values = {"scope": self.scope, "key": self.key, "fingerprint": self.fingerprint}
        if await uow.fetch(query, values):
            return None
        return await _claimed_before(
            uow.session, scope=self.scope, key=self.key, fingerprint=self.fingerprint
        )

    async def complete_on(self, uow: UnitOfWork, response: Response) -> None:
        """`complete_in` for a hot path: a compiled statement (`uow.fetch`)."""
        query = uow.queries.get("platform.idempotency.complete", lambda: _COMPLETE)
        values = {
            "scope": self.scope,
            "key": self.key,
            "status": response.status_code,
            "headers": orjson.dumps(_replayed_headers(response)).decode(),
            "body": bytes(response.body),
        }
        await uow.fetch(query, values)


_CLAIM = text(
    "INSERT INTO platform_idempotency_key (scope, key, fingerprint)"
    " VALUES (:scope, :key, :fingerprint) ON CONFLICT DO NOTHING RETURNING key"
)
_COMPLETE = text(
    "UPDATE platform_idempotency_key SET completed_at = now(), response_status = :status,"
    " response_headers = CAST(:headers AS jsonb), response_body = :body"
    " WHERE scope = :scope AND key = :key"
)


def required_key(request: Request) -> str:
    """The request's Idempotency-Key, validated; 400 when a route requires one."""
    raw = request.headers.get(HEADER)
    if raw is None:
        raise IdempotencyKeyRequired(f"Send an {HEADER} header: this request must be retryable.")
    return _checked_key(raw)


async def reap_idempotency_keys(database: Database, *, older_than: dt.timedelta = RETENTION) -> int:
    async with database.session() as session, session.begin():
        result = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < func.now() - older_than)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
