"""Idempotency keys as a card processor has them (docs/sandbox.md).

The shape of `mercato.platform.idempotency`, with a provider's contract: same key and body
replay the stored answer (`Idempotent-Replayed: true`), another body is 400
`idempotency_key_reused`, a key still running is 409 `idempotency_key_in_use`, keys are
scoped to the API key and kept 24 h. Two differences that matter here:

- the answer is stored in the transaction of the change itself, so a crash can never leave
  a charge without its answer (the retry replays it rather than charging again);
- `replay_from` lets an answer be stored yet not replayable before a moment: the
  timeout-after-charge card commits its charge and answer, then holds the connection, and a
  retry during the hold is 409 (in flight), after it a replay.

Fingerprints are HMACs keyed by the API key: a payment method's body holds a card number,
and a plain hash of one is easy to brute-force.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from mercato.sandbox.errors import SandboxError, json_response
from mercato.sandbox.schema import idempotency_key

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION = dt.timedelta(hours=24)
# A key claimed longer ago than this, without an answer, belongs to a process that died.
ABANDONED_AFTER = dt.timedelta(minutes=5)
MAX_KEY_LENGTH = 255

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    """What an operation produced: the JSON to send, and how long to hold it back."""

    body: dict[str, Any]
    status: int = 200
    hold_s: float = 0.0


Operation = Callable[[AsyncConnection], Awaitable[Answer]]


def scope_of(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def fingerprint(*, api_key: str, method: str, path: str, body: bytes) -> bytes:
    return hmac.new(
        api_key.encode(), method.encode() + b" " + path.encode() + b"\n" + body, hashlib.sha256
    ).digest()


def _checked_key(raw: str) -> str:
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not (raw.isascii() and raw.isprintable()):
        raise SandboxError(
            400,
            "idempotency_key_invalid",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
        )
    return raw


async def run_idempotent(
    request: Request, *, engine: AsyncEngine, api_key: str, operation: Operation
) -> Response:
    """Run `operation` in one transaction, at most once per Idempotency-Key."""
    raw_key = request.headers.get(HEADER)
    if raw_key is None:
        async with engine.begin() as connection:
            answer = await operation(connection)
        return await _answer(answer)
    key = _checked_key(raw_key)
    scope = scope_of(api_key)
    print_ = fingerprint(
        api_key=api_key, method=request.method, path=request.url.path, body=await request.body()
    )
    replay = await _claim(engine, scope=scope, key=key, fingerprint=print_)
    if replay is not None:
        return replay
    try:
        async with engine.begin() as connection:
            answer = await operation(connection)
            await _store(connection, scope=scope, key=key, answer=answer)
    except SandboxError as error:
        # The change rolled back; the provider's refusal is the answer to replay.
        await _store_refusal(engine, scope=scope, key=key, error=error)
        raise
    except BaseException:
        # A bug, a lost database, a cancelled request: nothing committed, so the retry runs.
        await asyncio.shield(_release(engine, scope=scope, key=key))
        raise
    return await _answer(answer)


async def _answer(answer: Answer) -> Response:
    if answer.hold_s > 0:
        await asyncio.sleep(answer.hold_s)
    return json_response(answer.body, status=answer.status)


async def _claim(
    engine: AsyncEngine, *, scope: str, key: str, fingerprint: bytes
) -> Response | None:
    """None when this request now owns the key; the stored answer to replay otherwise."""
    table = idempotency_key
    async with engine.begin() as connection:
        claimed = await connection.scalar(
            insert(table)
            .values(scope=scope, key=key, fingerprint=fingerprint)
            .on_conflict_do_nothing()
            .returning(table.c.key)
        )
        if claimed is not None:
            return None
        reclaimed = await connection.scalar(
            update(table)
            .where(
                table.c.scope == scope,
                table.c.key == key,
                table.c.fingerprint == fingerprint,
                table.c.response_status.is_(None),
                table.c.created_at < func.now() - ABANDONED_AFTER,
            )
            .values(created_at=func.now())
            .returning(table.c.key)
        )
        if reclaimed is not None:
            logger.warning("idempotency_key_reclaimed")
            return None
        stored = (
            (
                await connection.execute(
                    select(table, (table.c.replay_from <= func.now()).label("replayable")).where(
                        table.c.scope == scope, table.c.key == key
                    )
                )
            )
            .mappings()
            .first()
        )
    in_use = SandboxError(
        409,
        "idempotency_key_in_use",
        "A request with this Idempotency-Key is still being processed; retry later.",
    )
    if stored is None:  # released between our insert and our read
        raise in_use
    if not hmac.compare_digest(stored["fingerprint"], fingerprint):
        raise SandboxError(
            400,
            "idempotency_key_reused",
            "This Idempotency-Key was already used with other parameters.",
        )
    if stored["response_status"] is None or not stored["replayable"]:
        raise in_use
    return Response(
        content=stored["response_body"],
        status_code=stored["response_status"],
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )


async def _store(connection: AsyncConnection, *, scope: str, key: str, answer: Answer) -> None:
    table = idempotency_key
    await connection.execute(
        update(table)
        .where(table.c.scope == scope, table.c.key == key)
        .values(
            response_status=answer.status,
            response_body=orjson.dumps(answer.body),
            # The wall clock, not the transaction's start: the hold starts after the work.
            replay_from=func.clock_timestamp() + dt.timedelta(seconds=answer.hold_s),
        )
    )


async def _store_refusal(engine: AsyncEngine, *, scope: str, key: str, error: SandboxError) -> None:
    try:
        async with engine.begin() as connection:
            await _store(
                connection, scope=scope, key=key, answer=Answer(error.body(), error.status)
            )
    except Exception as failure:  # noqa: BLE001 - the refusal still goes out; the retry reruns
        logger.warning("idempotency_key_store_failed", error=type(failure).__name__)
        await _release(engine, scope=scope, key=key)


async def _release(engine: AsyncEngine, *, scope: str, key: str) -> None:
    table = idempotency_key
    try:
        async with engine.begin() as connection:
            await connection.execute(
                delete(table).where(
                    table.c.scope == scope, table.c.key == key, table.c.response_status.is_(None)
                )
            )
    except Exception as error:  # noqa: BLE001 - the key is reclaimed once abandoned anyway
        logger.warning("idempotency_key_release_failed", error=type(error).__name__)


async def reap_expired_keys(engine: AsyncEngine) -> int:
    async with engine.begin() as connection:
        result = await connection.execute(
            delete(idempotency_key).where(idempotency_key.c.created_at < func.now() - RETENTION)
        )
    return int(result.rowcount or 0)
