"""The sandbox's clock: settles asynchronous payments, delivers webhooks, reaps old rows.

One task per sandbox process, started and stopped by the application's lifespan. It wakes
on the `NOTIFY` every new event sends (from any sandbox process), else every poll
interval; a failing step (the database gone) is logged and retried on the next turn, and
never ends the loop.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from mercato.platform.aio import wait_first
from mercato.platform.db.database import Database
from mercato.platform.db.notify import close_quietly, listen
from mercato.sandbox.deliveries import WebhookDispatcher, reap_finished_deliveries
from mercato.sandbox.events import WEBHOOK_CHANNEL
from mercato.sandbox.idempotency import reap_expired_keys
from mercato.sandbox.intents import PaymentIntents

REAP_EVERY_S = 600.0

logger = structlog.get_logger(__name__)


class SandboxClock:
    def __init__(
        self,
        *,
        database: Database,
        intents: PaymentIntents,
        dispatcher: WebhookDispatcher,
        poll_interval_s: float,
    ) -> None:
        self._database = database
        self._intents = intents
        self._dispatcher = dispatcher
        self._poll_interval_s = poll_interval_s
        self.wake = asyncio.Event()
        self._next_reap = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        listener = await listen(self._database, WEBHOOK_CHANNEL, self.wake)
        try:
            while not stop.is_set():
                self.wake.clear()
                busy = await self.tick()
                if not busy:
                    await wait_first(stop, self.wake, seconds=self._poll_interval_s)
        finally:
            await close_quietly(listener)

    async def tick(self) -> bool:
        """One turn; True when there may be more work right away."""
        try:
            async with self._database.primary.begin() as connection:
                settled = await self._intents.settle_due(connection)
            delivered = await self._dispatcher.deliver_due()
            if time.monotonic() >= self._next_reap:
                self._next_reap = time.monotonic() + REAP_EVERY_S
                await reap_expired_keys(self._database.primary)
                await reap_finished_deliveries(self._database.primary)
        except Exception as error:  # noqa: BLE001 - the loop outlives a database outage
            logger.warning("sandbox_clock_failed", error=type(error).__name__)
            return False
        return settled > 0 or delivered > 0
