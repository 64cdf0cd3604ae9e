"""The worker's liveness file: touched while the loop turns, gone when it stops."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from mercato.platform.failures import StartupError
from mercato.platform.heartbeat import heartbeat


async def test_the_file_is_touched_while_the_loop_turns_and_removed_after(
    tmp_path: Path,
) -> None:
    alive = tmp_path / "alive"
    async with heartbeat(alive, every_s=0.02):
        assert alive.exists()
        os.utime(alive, (0, 0))  # as if last touched in 1970
        await asyncio.sleep(0.1)
        assert alive.stat().st_mtime > 0  # touched again by the loop
    assert not alive.exists()


async def test_a_blocked_loop_leaves_the_file_stale(tmp_path: Path) -> None:
    alive = tmp_path / "alive"
    async with heartbeat(alive, every_s=0.02):
        os.utime(alive, (0, 0))
        _block_the_loop(0.1)  # what a hung worker does: no await, no turn of the loop
        assert alive.stat().st_mtime == 0


async def test_an_unwritable_place_is_a_startup_error(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="MERCATO_WORKER_HEARTBEAT_FILE"):
        async with heartbeat(tmp_path / "missing-directory" / "alive"):
            pass


async def test_no_file_asked_for_none_written(tmp_path: Path) -> None:
    async with heartbeat(None):
        pass
    assert os.listdir(tmp_path) == []


def _block_the_loop(seconds: float) -> None:
    time.sleep(seconds)
