"""One real sandbox (uvicorn on a free port, its own throwaway database) and one real
webhook receiver for the session; knobs are reset after every test.

Short timings keep the suite fast: the slow card answers after 1.5 s, the async card
settles after 0.3 s, webhook retries start at 0.1 s.
"""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from mercato.payments.providers.sandbox import SandboxProvider
from mercato.platform.config import LogSettings
from mercato.platform.observability.logging import configure_logging
from mercato.sandbox.app import create_sandbox_app
from mercato.sandbox.config import SandboxSettings
from tests.conftest import create_database, drop_database
from tests.support.sandbox_receiver import PATH, WebhookReceiver
from tests.support.servers import bound_socket, port_of, serve_app

SLOW_ANSWER_S = 1.5
ASYNC_DELAY_S = 0.3
API_KEY = "sk_sandbox_" + secrets.token_urlsafe(24)
OTHER_API_KEY = "sk_sandbox_" + secrets.token_urlsafe(24)
OLD_SECRET = "whsec_" + secrets.token_urlsafe(32)
NEW_SECRET = "whsec_" + secrets.token_urlsafe(32)
NO_FAULTS = {
    "latency_ms": 0,
    "error_rate": 0.0,
    "rate_limit_rate": 0.0,
    "webhooks_paused": False,
    "webhook_duplicates": False,
    "webhook_out_of_order": False,
}


@dataclass
class Sandbox:
    base_url: str
    settings: SandboxSettings
    database_url: str
    receiver: WebhookReceiver
    api: httpx.AsyncClient = field(repr=False)

    async def create_intent(self, *, amount: int = 1_000, **fields: Any) -> dict[str, Any]:
        body = {"amount": amount, "currency": "EUR", "reference": f"ord_{secrets.token_hex(6)}"}
        response = await self.api.post("/v1/payment_intents", json=body | fields)
        assert response.status_code == 200, response.text
        intent: dict[str, Any] = response.json()
        return intent

    async def confirm(self, intent_id: str, payment_method: str, **fields: Any) -> httpx.Response:
        body = {"payment_method": payment_method} | fields
        return await self.api.post(f"/v1/payment_intents/{intent_id}/confirm", json=body)

    async def paid_intent(self, *, amount: int = 1_000, **fields: Any) -> dict[str, Any]:
        intent = await self.create_intent(amount=amount, **fields)
        confirmed = await self.confirm(intent["id"], "pm_card_visa")
        assert confirmed.json()["status"] in {"succeeded", "requires_capture"}, confirmed.text
        paid: dict[str, Any] = confirmed.json()
        return paid

    async def ledger(self, reference: str) -> dict[str, Any]:
        response = await self.api.get("/v1/ledger", params={"reference": reference})
        assert response.status_code == 200, response.text
        books: dict[str, Any] = response.json()["currencies"]
        return books

    async def set_faults(self, **knobs: Any) -> dict[str, Any]:
        response = await self.api.post("/v1/_sandbox/faults", json=knobs)
        assert response.status_code == 200, response.text
        current: dict[str, Any] = response.json()
        return current


def sandbox_settings(database_url: str, *, port: int, webhook_url: str) -> SandboxSettings:
    return SandboxSettings(
        host="127.0.0.1",
        port=port,
        database_url=SecretStr(database_url),
        api_keys=(SecretStr(API_KEY), SecretStr(OTHER_API_KEY)),
        webhook_url=webhook_url,
        webhook_secrets=(SecretStr(OLD_SECRET), SecretStr(NEW_SECRET)),
        slow_answer_s=SLOW_ANSWER_S,
        async_delay_s=ASYNC_DELAY_S,
        webhook_timeout_s=2.0,
        webhook_retry_base_s=0.1,
        webhook_retry_cap_s=0.2,
        out_of_order_window_s=0.5,
        webhook_max_attempts=5,
        poll_interval_s=0.05,
        max_body_bytes=4_096,
    )


@pytest.fixture(scope="session")
async def sandbox_database(postgres_server: str) -> AsyncIterator[str]:
    url = await create_database(postgres_server, prefix="sandbox_test")
    try:
        yield url
    finally:
        await drop_database(postgres_server, url)


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    webhooks = WebhookReceiver()
    async with serve_app(webhooks.app) as base_url:
        yield webhooks, base_url + PATH


@pytest.fixture(scope="session")
async def sandbox(
    sandbox_database: str, receiver: tuple[WebhookReceiver, str]
) -> AsyncIterator[Sandbox]:
    webhooks, webhook_url = receiver
    sock = bound_socket()
    settings = sandbox_settings(sandbox_database, port=port_of(sock), webhook_url=webhook_url)
    async with (
        serve_app(create_sandbox_app(settings), sock) as base_url,
        httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10
        ) as api,
    ):
        yield Sandbox(base_url, settings, sandbox_database, webhooks, api)


@pytest.fixture(autouse=True)
async def _no_faults_after(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test that used the sandbox leaves its knobs as it found them."""
    yield
    if "sandbox" in request.fixturenames:
        sandbox: Sandbox = request.getfixturevalue("sandbox")
        await sandbox.set_faults(**NO_FAULTS)


@pytest.fixture
async def provider(sandbox: Sandbox) -> AsyncIterator[SandboxProvider]:
    adapter = SandboxProvider(
        base_url=sandbox.base_url,
        api_key=API_KEY,
        webhook_secrets=(NEW_SECRET,),
        connect_timeout_s=1.0,
        read_timeout_s=5.0,
    )
    try:
        yield adapter
    finally:
        await adapter.aclose()


@pytest.fixture
def preserved_logging() -> Iterator[None]:
    """Logging as it was before the test, whatever the test configured."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    structlog_config = structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**structlog_config)


@pytest.fixture
def captured_logs(preserved_logging: None) -> io.StringIO:
    """Every log line of the test (the sandbox's included: it runs in this process), JSON."""
    stream = io.StringIO()
    configure_logging(LogSettings(level="DEBUG"), stream=stream)
    return stream


@pytest.fixture
def reference() -> str:
    return f"ord_{secrets.token_hex(6)}"
