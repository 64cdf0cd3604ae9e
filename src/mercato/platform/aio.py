"""Small asyncio helpers shared by the long-running loops (relay, consumers, worker)."""

from __future__ import annotations

import asyncio


async def wait_first(*events: asyncio.Event, seconds: float) -> None:
    """Return when any event is set or after `seconds`, whichever comes first."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
