"""Job worker settings: recovery in seconds, never at the price of a live worker's jobs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mercato.platform.config import JobSettings


def test_a_dead_workers_jobs_come_back_within_seconds_by_default() -> None:
    jobs = JobSettings()
    assert jobs.stalled_worker_timeout_s + jobs.recovery_interval_s <= 10
    assert jobs.stalled_worker_timeout_s >= 3 * jobs.heartbeat_interval_s


def test_a_timeout_shorter_than_three_heartbeats_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOBS_HEARTBEAT_INTERVAL_S", "2")
    monkeypatch.setenv("JOBS_STALLED_WORKER_TIMEOUT_S", "5")
    with pytest.raises(ValidationError, match="at least 3 x JOBS_HEARTBEAT_INTERVAL_S"):
        JobSettings()


def test_the_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBS_HEARTBEAT_INTERVAL_S", "0.5")
    monkeypatch.setenv("JOBS_STALLED_WORKER_TIMEOUT_S", "3")
    monkeypatch.setenv("JOBS_RECOVERY_INTERVAL_S", "0.5")
    jobs = JobSettings()
    assert (jobs.heartbeat_interval_s, jobs.stalled_worker_timeout_s) == (0.5, 3.0)
    assert jobs.recovery_interval_s == 0.5
