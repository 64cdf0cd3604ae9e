"""A merchant for the payments service's webhooks: a fresh receiver (Standard Webhooks
verification, scripted answers) served on 127.0.0.1, registered as an endpoint through
the admin API, and deleted again afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import text

from tests.support.local_server import serving
from tests.support.merchant_receiver import Answer, Delivery, WebhookReceiver
from tests.support.payments_service import PaymentsService

T = TypeVar("T")
ENDPOINTS = "/api/v1/webhook_endpoints"


def admin_headers(payments: PaymentsService, *, key: str = "") -> dict[str, str]:
    """An administrator's token (permission payments:admin)."""
    headers = payments.customer_headers(uuid.uuid4(), roles=("admin",))
    if key:
        headers["Idempotency-Key"] = key
    return headers


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, seconds: float = 10.0, what: str = "it"
) -> T:
    """The first non-None answer of `probe`, polled every 50 ms for at most `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await probe()
        if found is not None:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def prompt_job_worker(payments: PaymentsService) -> AsyncIterator[None]:
    """Wake the service's job worker every 50 ms: procrastinate polls for jobs scheduled in
    the future every 5 s, longer than a test's whole (scaled) retry schedule. The wake-up
    is the notification procrastinate sends when a job is inserted."""
    connection = await asyncpg.connect(payments.database_url)
    stop = asyncio.Event()

    async def nudge() -> None:
        while not stop.is_set():
            await connection.execute(
                "SELECT pg_notify('procrastinate_any_queue_v1',"
                ' \'{"type": "job_inserted", "job_id": 0}\')'
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.05)

    task = asyncio.create_task(nudge())
    try:
        yield
    finally:
        stop.set()
        await task
        await connection.close()


@dataclass
class MerchantSite:
    payments: PaymentsService
    receiver: WebhookReceiver
    endpoint: dict[str, Any]
    secret: str

    @property
    def endpoint_id(self) -> str:
        return str(self.endpoint["id"])

    def answer(self, answers: Sequence[Answer]) -> None:
        """Script the next answers (the last one repeats); forgets what was received."""
        self.receiver.reset(secret=self.secret, answers=list(answers))

    def received_for(self, intent_id: str) -> list[Delivery]:
        return [d for d in self.receiver.deliveries if intent_id.encode() in d.body]

    async def get(self, path: str) -> Any:
        response = await self.payments.api.get(path, headers=admin_headers(self.payments))
        assert response.status_code == 200, response.text
        return response.json()

    async def read_endpoint(self) -> dict[str, Any]:
        found: dict[str, Any] = await self.get(f"{ENDPOINTS}/{self.endpoint_id}")
        return found

    async def deliveries(self) -> list[dict[str, Any]]:
        page = await self.get(f"{ENDPOINTS}/{self.endpoint_id}/deliveries")
        return list(page["items"])

    async def attempts(self, delivery_id: str) -> list[dict[str, Any]]:
        page = await self.get(f"/api/v1/webhook_deliveries/{delivery_id}/attempts")
        return list(page["items"])

    async def delivery_when(
        self, done: Callable[[dict[str, Any]], bool], *, seconds: float = 10.0
    ) -> dict[str, Any]:
        """The endpoint's only delivery (as the API shows it) once `done(delivery)` holds;
        polled in the database, so waiting costs no requests (the API rate-limits)."""

        async def probe() -> dict[str, Any] | None:
            rows = await self.rows(
                "SELECT id::text, status, attempts, next_attempt_at FROM payments_webhook_delivery"
                " WHERE endpoint_id = CAST(:id AS uuid)"
            )
            return rows[0] if len(rows) == 1 and done(rows[0]) else None

        await eventually(probe, seconds=seconds, what="the delivery's state")
        [delivery] = await self.deliveries()
        return delivery

    async def attempt_count(self, delivery_id: str) -> int:
        rows = await self.rows(
            "SELECT count(*) AS n FROM payments_webhook_attempt"
            " WHERE delivery_id = CAST(:delivery AS uuid)",
            delivery=delivery_id,
        )
        return int(rows[0]["n"])

    async def rows(self, sql: str, **values: object) -> list[dict[str, Any]]:
        async with self.payments.runtime.database.session() as session:
            result = await session.execute(text(sql), {"id": self.endpoint_id} | values)
            return [dict(row._mapping) for row in result]

    async def paid_intent(self) -> str:
        """A payment that succeeds (its event fans out to the endpoint)."""
        intent = await self.payments.create_intent()
        paid = await self.payments.confirm(intent["id"], "pm_card_visa")
        assert paid.json()["status"] == "succeeded", paid.text
        return str(intent["id"])


async def remove_all_endpoints(payments: PaymentsService) -> None:
    """Delete every endpoint (bounded: 2,000), so later tests' payments do not fan out to
    endpoints nothing listens at."""
    admin = admin_headers(payments)
    for _ in range(20):
        page = await payments.api.get(ENDPOINTS, params={"limit": 100}, headers=admin)
        items = page.json()["items"]
        if not items:
            return
        for item in items:
            await payments.api.delete(f"{ENDPOINTS}/{item['id']}", headers=admin)


@contextlib.asynccontextmanager
async def merchant_site(
    payments: PaymentsService,
    *,
    event_types: Sequence[str] = ("payments.intent.succeeded",),
    answers: Sequence[Answer] = (Answer(),),
) -> AsyncIterator[MerchantSite]:
    receiver = WebhookReceiver()
    async with serving(receiver.app) as base, prompt_job_worker(payments):
        created = await payments.api.post(
            ENDPOINTS,
            json={"url": f"{base}/hooks/{secrets.token_hex(4)}", "event_types": list(event_types)},
            headers=admin_headers(payments),
        )
        assert created.status_code == 201, created.text
        site = MerchantSite(payments, receiver, created.json(), created.json()["secret"])
        site.answer(answers)
        try:
            yield site
        finally:
            await payments.api.delete(
                f"{ENDPOINTS}/{site.endpoint_id}", headers=admin_headers(payments)
            )
