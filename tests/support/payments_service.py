"""The payments service for tests, for real: its own schema (migrated), the sandbox provider
delivering signed webhooks to it, a JWKS endpoint for the tokens of the test's "API", the
service served by uvicorn on 127.0.0.1, and its worker (relay, jobs) in the background."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from mercato.payments.config import PaymentsSettings, ProviderCallPolicy
from mercato.payments.process import create_payments_app, service_settings
from mercato.payments.schema import HISTORY
from mercato.platform.config import JobSettings
from mercato.platform.db import migrations
from mercato.platform.runtime import Runtime
from mercato.platform.security.jwt import AccessTokens, KeyRing
from mercato.platform.server import build_worker
from mercato.sandbox.app import create_sandbox_app
from mercato.sandbox.config import SandboxSettings
from tests.conftest import create_database, drop_database, make_settings
from tests.support.servers import bound_socket, port_of, serve_app

API_KEY = "sk_sandbox_" + secrets.token_urlsafe(24)
WEBHOOK_SECRET = "whsec_" + secrets.token_urlsafe(32)
SLOW_ANSWER_S = 1.5
ISSUER = "mercato"


@dataclass
class PaymentsService:
    base_url: str
    api: httpx.AsyncClient = field(repr=False)
    sandbox: httpx.AsyncClient = field(repr=False)
    runtime: Runtime = field(repr=False)
    tokens: AccessTokens = field(repr=False)
    database_url: str

    def service_headers(
        self, *, scopes: tuple[str, ...] = ("payments:write", "payments:read"), key: str = ""
    ) -> dict[str, str]:
        token = self.tokens.issue_service_token(
            service="orders", audience="payments", scopes=scopes, ttl=dt.timedelta(minutes=1)
        )
        headers = {"Authorization": f"Bearer {token}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def customer_headers(
        self, user_id: uuid.UUID, *, roles: tuple[str, ...] = ("customer",)
    ) -> dict[str, str]:
        token, _ = self.tokens.issue(
            subject=str(user_id), session_id=str(uuid.uuid4()), roles=roles, email_verified=True
        )
        return {"Authorization": f"Bearer {token}"}

    async def create_intent(
        self, *, amount: int = 2_500, customer: uuid.UUID | None = None, **fields: Any
    ) -> dict[str, Any]:
        body = {
            "amount": amount,
            "currency": "EUR",
            "order_reference": f"ord_{secrets.token_hex(6)}",
            "customer_id": str(customer) if customer else None,
        } | fields
        created = await self.api.post(
            "/api/v1/payment_intents",
            json=body,
            headers=self.service_headers(key=secrets.token_hex(8)),
        )
        assert created.status_code == 201, created.text
        intent: dict[str, Any] = created.json()
        return intent

    async def confirm(
        self, intent_id: str, payment_method: str, *, key: str | None = None
    ) -> httpx.Response:
        headers = self.service_headers(key=key or secrets.token_hex(8))
        return await self.api.post(
            f"/api/v1/payment_intents/{intent_id}/confirm",
            json={"payment_method": payment_method},
            headers=headers,
        )

    async def intent(self, intent_id: str) -> dict[str, Any]:
        response = await self.api.get(
            f"/api/v1/payment_intents/{intent_id}", headers=self.service_headers()
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def settled(
        self, intent_id: str, done: Callable[[dict[str, Any]], bool], *, seconds: float = 15
    ) -> dict[str, Any]:
        """The intent once `done(intent)` holds (bounded wait for webhooks and jobs)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            current = await self.intent(intent_id)
            if done(current) or asyncio.get_running_loop().time() > deadline:
                return current
            await asyncio.sleep(0.1)

    async def charges(self, intent_id: str) -> dict[str, Any]:
        """What the provider really moved for this intent (the sandbox's ledger)."""
        response = await self.sandbox.get("/v1/ledger", params={"reference": intent_id})
        assert response.status_code == 200, response.text
        books: dict[str, Any] = response.json()["currencies"].get("EUR", {})
        return books

    async def faults(self, **knobs: Any) -> None:
        response = await self.sandbox.post("/v1/_sandbox/faults", json=knobs)
        assert response.status_code == 200, response.text

    async def scalar(self, sql: str, **values: object) -> Any:
        """One value read from the service's schema (assertions on stored rows)."""
        async with self.runtime.database.session() as session:
            return await session.scalar(text(sql), values)

    async def outbox(self, intent_id: str) -> list[str]:
        """The names of the events published about an intent, in order."""
        async with self.runtime.database.session() as session:
            rows = await session.execute(
                text("SELECT name FROM platform_outbox WHERE aggregate_id = :id ORDER BY seq"),
                {"id": intent_id},
            )
            return [row[0] for row in rows]


def _jwks_app(ring: KeyRing) -> Starlette:
    async def jwks(_: object) -> JSONResponse:
        return JSONResponse(ring.jwks())

    return Starlette(routes=[Route("/.well-known/jwks.json", jwks)])


@contextlib.asynccontextmanager
async def payments_service(
    postgres_server: str, tmp: Path, *, deadline_s: float = 4.0
) -> AsyncIterator[PaymentsService]:
    """Everything in the module docstring, for one test session."""
    database_url = await create_database(postgres_server, prefix="payments_test")
    sandbox_url = await create_database(postgres_server, prefix="payments_sandbox")
    ring = KeyRing.load_or_create(tmp / "jwt-keys.json")
    tokens = AccessTokens(ring, issuer=ISSUER, audience="mercato-api", ttl=dt.timedelta(minutes=5))
    payments_socket, sandbox_socket = bound_socket(), bound_socket()
    payments_port, sandbox_port = port_of(payments_socket), port_of(sandbox_socket)
    try:
        await asyncio.to_thread(migrations.upgrade, database_url, history=HISTORY)
        sandbox_settings = SandboxSettings(
            host="127.0.0.1",
            port=sandbox_port,
            database_url=SecretStr(sandbox_url),
            api_keys=(SecretStr(API_KEY),),
            webhook_url=f"http://127.0.0.1:{payments_port}/webhooks/sandbox",
            webhook_secrets=(SecretStr(WEBHOOK_SECRET),),
            slow_answer_s=SLOW_ANSWER_S,
            async_delay_s=0.3,
            webhook_retry_base_s=0.1,
            webhook_retry_cap_s=0.5,
            webhook_max_attempts=20,
            poll_interval_s=0.05,
        )
        async with (
            serve_app(_jwks_app(ring)) as jwks_url,
            serve_app(create_sandbox_app(sandbox_settings), sandbox_socket) as sandbox_base,
        ):
            own = PaymentsSettings(
                sandbox_url=sandbox_base,
                sandbox_api_key=SecretStr(API_KEY),
                sandbox_webhook_secrets=(SecretStr(WEBHOOK_SECRET),),
                jwks_url=jwks_url + "/.well-known/jwks.json",
                jwt_issuer=ISSUER,
                reconcile_after_s=0.5,
                provider_read_timeout_s=0.5,
                call_policy=ProviderCallPolicy(
                    deadline_s=deadline_s,
                    max_tries=4,
                    backoff_initial_s=0.05,
                    backoff_max_s=0.2,
                    min_try_budget_s=0.5,
                    breaker_failure_threshold=50,
                    breaker_recovery_s=1.0,
                ),
                webhook_allowed_private_targets=("127.0.0.0/8", "localhost"),
                # The merchant webhook schedule (27 h) in about a second.
                webhook_retry_scale=1e-5,
            )
            # The service's worker lives in the test session's event loop, which stands
            # still during synchronous tests: with the default 5 s its own recovery could
            # take it for dead when the loop resumes (no test here kills this worker).
            jobs = JobSettings(stalled_worker_timeout_s=300.0)
            base = make_settings(database_url, data_dir=tmp, jobs=jobs).with_section(own)
            # One service serves every payments test from one address: the per-IP budget
            # (300 requests a minute) would let one test's requests throttle the next.
            unlimited = base.http.model_copy(update={"rate_limits_enabled": False})
            base = base.model_copy(update={"http": unlimited})
            settings = service_settings(base).model_copy(update={"port": payments_port})
            app = create_payments_app(settings)
            async with serve_app(app, payments_socket) as base_url:
                runtime: Runtime = app.state.runtime
                stop = asyncio.Event()
                worker = asyncio.create_task(build_worker(runtime).run(stop))
                async with (
                    httpx.AsyncClient(base_url=base_url, timeout=30) as api,
                    httpx.AsyncClient(
                        base_url=sandbox_base,
                        headers={"Authorization": f"Bearer {API_KEY}"},
                        timeout=30,
                    ) as sandbox,
                ):
                    try:
                        yield PaymentsService(base_url, api, sandbox, runtime, tokens, database_url)
                    finally:
                        stop.set()
                        await asyncio.wait_for(worker, timeout=30)
    finally:
        await drop_database(postgres_server, database_url)
        await drop_database(postgres_server, sandbox_url)
