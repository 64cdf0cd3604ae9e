"""The payments service killed in the middle of a confirmation.

- The provider has charged, the answer never got recorded: after a restart the payment
  ends `succeeded`, charged once (the attempt's check was queued with the attempt itself;
  the worker asks the provider).
- Killed before the attempt was stored: nothing of the request survives, its key neither;
  the client's retry pays at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from mercato.payments.schema import HISTORY
from mercato.platform.db import migrations
from mercato.platform.security.jwt import AccessTokens, KeyRing
from mercato.sandbox.app import create_sandbox_app
from mercato.sandbox.config import SandboxSettings
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import RunningMercato, free_port, mercato_env
from tests.support.payments_service import API_KEY, WEBHOOK_SECRET, _jwks_app
from tests.support.servers import bound_socket, port_of, serve_app

pytestmark = pytest.mark.e2e
SLOW_ANSWER_S = 4.0


def start(args: list[str], env: dict[str, str], port: int) -> RunningMercato:
    process = subprocess.Popen(
        [sys.executable, "-m", "mercato", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return RunningMercato(process=process, base_url=f"http://127.0.0.1:{port}")


@dataclass
class Stack:
    """A payments service's database, environment and port, its sandbox, and the orders
    service's headers to call it."""

    database_url: str
    env: dict[str, str]
    port: int
    sandbox_url: str
    headers: dict[str, str]


@asynccontextmanager
async def payments_stack(postgres_server: str, tmp_path: Path) -> AsyncIterator[Stack]:
    database_url = await create_database(postgres_server, prefix="payments_crash")
    sandbox_db = await create_database(postgres_server, prefix="payments_crash_sandbox")
    ring = KeyRing.load_or_create(tmp_path / "jwt-keys.json")
    tokens = AccessTokens(
        ring, issuer="mercato", audience="mercato-api", ttl=dt.timedelta(minutes=5)
    )
    port = free_port()
    sandbox_socket = bound_socket()
    try:
        await asyncio.to_thread(migrations.upgrade, database_url, history=HISTORY)
        sandbox = SandboxSettings(
            host="127.0.0.1",
            port=port_of(sandbox_socket),
            database_url=SecretStr(sandbox_db),
            api_keys=(SecretStr(API_KEY),),
            webhook_url=f"http://127.0.0.1:{port}/webhooks/sandbox",
            webhook_secrets=(SecretStr(WEBHOOK_SECRET),),
            slow_answer_s=SLOW_ANSWER_S,
            webhook_retry_base_s=0.2,
            webhook_retry_cap_s=1.0,
            poll_interval_s=0.1,
        )
        async with (
            serve_app(_jwks_app(ring)) as jwks,
            serve_app(create_sandbox_app(sandbox), sandbox_socket) as sandbox_url,
        ):
            env = mercato_env(
                DATABASE_URL=database_url,
                PAYMENTS_PORT=str(port),
                PAYMENTS_SANDBOX_URL=sandbox_url,
                PAYMENTS_SANDBOX_API_KEY=API_KEY,
                PAYMENTS_SANDBOX_WEBHOOK_SECRETS=WEBHOOK_SECRET,
                PAYMENTS_JWKS_URL=jwks + "/.well-known/jwks.json",
                PAYMENTS_RECONCILE_AFTER_S="0.5",
                # The call waits for the slow answer: the process dies while it waits.
                PAYMENTS_PROVIDER_READ_TIMEOUT_S="20",
                JOBS_HEARTBEAT_INTERVAL_S="0.5",
                JOBS_STALLED_WORKER_TIMEOUT_S="2",
            )
            token = tokens.issue_service_token(
                service="orders",
                audience="payments",
                scopes=("payments:write", "payments:read"),
                ttl=dt.timedelta(minutes=5),
            )
            yield Stack(database_url, env, port, sandbox_url, {"Authorization": f"Bearer {token}"})
    finally:
        await drop_database(postgres_server, database_url)
        await drop_database(postgres_server, sandbox_db)


async def _intent(api: httpx.AsyncClient, stack: Stack, reference: str) -> str:
    created = await api.post(
        "/api/v1/payment_intents",
        json={"amount": 4_700, "currency": "EUR", "order_reference": reference},
        headers=stack.headers | {"Idempotency-Key": secrets.token_hex(8)},
    )
    assert created.status_code == 201, created.text
    intent_id: str = created.json()["id"]
    return intent_id


async def _charges(stack: Stack, intent_id: str) -> int:
    async with httpx.AsyncClient(
        base_url=stack.sandbox_url, headers={"Authorization": f"Bearer {API_KEY}"}
    ) as provider:
        books = (await provider.get("/v1/ledger", params={"reference": intent_id})).json()
    count: int = books["currencies"].get("EUR", {}).get("charges", {}).get("count", 0)
    return count


async def test_a_payments_service_killed_mid_confirmation_charges_once(
    postgres_server: str, tmp_path: Path
) -> None:
    async with payments_stack(postgres_server, tmp_path) as stack:
        worker = start(["payments", "worker"], stack.env, stack.port)
        server = start(["payments", "serve"], stack.env, stack.port)
        try:
            await asyncio.to_thread(server.wait_ready)
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as api:
                intent_id = await _intent(api, stack, "crash-1")
                confirming = asyncio.create_task(
                    api.post(
                        f"/api/v1/payment_intents/{intent_id}/confirm",
                        json={"payment_method": "pm_card_timeout_after_charge"},
                        headers=stack.headers,
                    )
                )
                await asyncio.sleep(1.5)  # charged at the sandbox, answer not yet sent
                server.stop(signal.SIGKILL)
                with pytest.raises(httpx.TransportError):
                    await confirming
            restarted = start(["payments", "serve"], stack.env, stack.port)
            try:
                await asyncio.to_thread(restarted.wait_ready)
                async with httpx.AsyncClient(base_url=restarted.base_url, timeout=30) as api:
                    deadline = time.monotonic() + 45
                    status = ""
                    while time.monotonic() < deadline:
                        found = await api.get(
                            f"/api/v1/payment_intents/{intent_id}", headers=stack.headers
                        )
                        status = found.json()["status"]
                        if status == "succeeded":
                            break
                        await asyncio.sleep(0.5)
                    assert status == "succeeded", restarted.output() + worker.output()
            finally:
                restarted.stop()
            assert await _charges(stack, intent_id) == 1
        finally:
            server.stop(signal.SIGKILL)
            assert worker.stop() == 0, worker.output()


async def test_a_confirmation_killed_before_its_attempt_was_stored_is_retried_at_once(
    postgres_server: str, tmp_path: Path
) -> None:
    """The process dies while its confirmation waits for the intent's row lock (the key
    claimed in the same transaction, nothing stored yet): the client's retry with the same
    Idempotency-Key runs at once and pays, where a claim committed on its own would have
    answered 409 "in flight" for minutes."""
    async with payments_stack(postgres_server, tmp_path) as stack:
        server = start(["payments", "serve"], stack.env, stack.port)
        try:
            await asyncio.to_thread(server.wait_ready)
            confirm_headers = stack.headers | {"Idempotency-Key": "pay-once"}
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as api:
                intent_id = await _intent(api, stack, "crash-2")
                holder = await asyncpg.connect(stack.database_url)
                try:
                    async with holder.transaction():
                        await holder.execute(
                            "SELECT 1 FROM payments.payments_intent WHERE id = $1 FOR UPDATE",
                            uuid.UUID(intent_id),
                        )
                        confirming = asyncio.create_task(
                            api.post(
                                f"/api/v1/payment_intents/{intent_id}/confirm",
                                json={"payment_method": "pm_card_visa"},
                                headers=confirm_headers,
                            )
                        )
                        await _waiting_for_lock(holder)
                        server.stop(signal.SIGKILL)
                        with pytest.raises(httpx.TransportError):
                            await confirming
                finally:
                    await holder.close()
            restarted = start(["payments", "serve"], stack.env, stack.port)
            try:
                await asyncio.to_thread(restarted.wait_ready)
                async with httpx.AsyncClient(base_url=restarted.base_url, timeout=30) as api:
                    retried = await api.post(
                        f"/api/v1/payment_intents/{intent_id}/confirm",
                        json={"payment_method": "pm_card_visa"},
                        headers=confirm_headers,
                    )
                    assert retried.status_code == 200, retried.text
                    assert retried.json()["status"] == "succeeded"
                    again = await api.post(
                        f"/api/v1/payment_intents/{intent_id}/confirm",
                        json={"payment_method": "pm_card_visa"},
                        headers=confirm_headers,
                    )
                    assert again.headers["idempotent-replayed"] == "true"
                    assert again.json() == retried.json()
            finally:
                restarted.stop()
            assert await _charges(stack, intent_id) == 1
        finally:
            server.stop(signal.SIGKILL)


async def _waiting_for_lock(holder: asyncpg.Connection) -> None:
    """Until another backend waits for a row lock (the confirmation, blocked on ours)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        waiting = await holder.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the confirmation never reached the intent's row lock")
