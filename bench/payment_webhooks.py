"""Provider webhooks in: signed sandbox events POSTed to the payments service until the
worker has applied them, against a bare inbox insert of the same rows."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import orjson

from bench.payment_flows import cpu_s
from bench.payment_stack import Stack
from bench.support import percentile
from mercato.sandbox.signing import SIGNATURE_HEADER, signature_header

WEBHOOK_TIMEOUT_S = 180.0  # processing of one webhook round, at most


@dataclass(frozen=True)
class WebhookRun:
    events: int
    ingest_per_s: float
    ingest_p50_ms: float
    ingest_p99_ms: float
    processed_per_s: float
    bare_insert_per_s: float
    cpu_ms_per_event: dict[str, float]


async def paid_payments(database_url: str, limit: int) -> list[str]:
    """Provider ids of payments the flows made through the service."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT provider_payment_id FROM payments.payments_intent"
            " WHERE provider_payment_id IS NOT NULL AND status = 'succeeded'"
            " ORDER BY created_at DESC LIMIT $1",
            limit,
        )
        return [row[0] for row in rows]
    finally:
        await connection.close()


async def _signed_events(
    stack: Stack, payment_ids: Sequence[str], count: int, run: str
) -> list[tuple[bytes, str]]:
    """`count` distinct `payment_intent.succeeded` events (the sandbox's own format, with
    the payment object it holds), signed as the sandbox signs them."""
    objects: list[dict[str, Any]] = []
    async with httpx.AsyncClient(
        base_url=stack.sandbox.base, headers={"Authorization": f"Bearer {stack.api_key}"}
    ) as sandbox:
        for payment_id in payment_ids[: min(len(payment_ids), count)]:
            answer = await sandbox.get(f"/v1/payment_intents/{payment_id}")
            answer.raise_for_status()
            objects.append(answer.json())
    if not objects:
        raise RuntimeError("no payment was made through the service to send webhooks about")
    now = int(time.time())
    events = []
    for n in range(count):
        body = orjson.dumps(
            {
                "id": f"evt_{run}_{n}",
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": now,
                "data": {"object": objects[n % len(objects)]},
            }
        )
        events.append((body, signature_header(body, secrets=[stack.webhook_secret], timestamp=now)))
    return events


async def _post_all(
    base: str, events: Sequence[tuple[bytes, str]], connections: int
) -> tuple[float, list[float]]:
    """POST every event (`connections` at a time); events/s and each answer's latency."""
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for event in events:
        queue.put_nowait(event)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def sender() -> None:
            while not queue.empty():
                body, signature = queue.get_nowait()
                started = time.perf_counter()
                answer = await client.post(
                    "/webhooks/sandbox",
                    content=body,
                    headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
                )
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    raise RuntimeError(f"webhook refused: {answer.status_code} {answer.text}")

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(connections)))
        return len(events) / (time.perf_counter() - started), sorted(latencies)


async def _processed(connection: asyncpg.Connection, run: str) -> int:
    return int(
        await connection.fetchval(
            "SELECT count(*) FROM payments.payments_provider_event"
            " WHERE event_id LIKE $1 AND processed_at IS NOT NULL",
            f"evt_{run}_%",
        )
    )


async def _bare_inserts(
    database_url: str, events: Sequence[tuple[bytes, str]], connections: int
) -> float:
    """The floor under any inbox: the same rows, INSERTed one autocommit statement each by
    `connections` concurrent connections, with the same unique key to check."""
    pool = await asyncpg.create_pool(database_url, min_size=connections, max_size=connections)
    try:
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_webhook_inbox (provider text NOT NULL,"
            " event_id text NOT NULL, payload jsonb NOT NULL,"
            " received_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (provider, event_id))"
        )
        await pool.execute("TRUNCATE bench_webhook_inbox")
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body, _ in events:
            queue.put_nowait(body)

        async def inserter() -> None:
            async with pool.acquire() as connection:
                while not queue.empty():
                    body = queue.get_nowait()
                    await connection.execute(
                        "INSERT INTO bench_webhook_inbox (provider, event_id, payload)"
                        " VALUES ('sandbox', $1, $2::jsonb) ON CONFLICT DO NOTHING",
                        orjson.loads(body)["id"],
                        body.decode(),
                    )

        started = time.perf_counter()
        await asyncio.gather(*(inserter() for _ in range(connections)))
        return len(events) / (time.perf_counter() - started)
    finally:
        await pool.close()


async def webhook_round(
    stack: Stack, database_url: str, payment_ids: Sequence[str], count: int, connections: int
) -> WebhookRun:
    run = f"bench{secrets.token_hex(4)}"
    events = await _signed_events(stack, payment_ids, count, run)
    connection = await asyncpg.connect(database_url)
    cpu_before = {name: cpu_s(pid) for name, pid in stack.processes.items()}
    try:
        started = time.perf_counter()
        ingest, latencies = await _post_all(stack.service.base, events, connections)
        deadline = started + WEBHOOK_TIMEOUT_S
        while await _processed(connection, run) < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"webhooks not processed within {WEBHOOK_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.05)
        processed = count / (time.perf_counter() - started)
    finally:
        await connection.close()
    cpu_used = {name: cpu_s(pid) - cpu_before[name] for name, pid in stack.processes.items()}
    bare = await _bare_inserts(database_url, events, connections)
    return WebhookRun(
        events=count,
        ingest_per_s=ingest,
        ingest_p50_ms=percentile(latencies, 0.50),
        ingest_p99_ms=percentile(latencies, 0.99),
        processed_per_s=processed,
        bare_insert_per_s=bare,
        cpu_ms_per_event={name: used * 1000 / count for name, used in cpu_used.items()},
    )


# --- the suite ------------------------------------------------------------------------
