"""Schemathesis over the OpenAPI document against a real `mercato serve`: every phase
(examples, coverage, fuzzing, stateful), anonymously and with an administrator's token,
and not one server error (`make test-slow`).

The server runs on a database of its own (what the fuzzer creates stays there) with rate
limits off (thousands of requests come from one address) and the shared Redis when
`REDIS_URL` is set (the caches and the fast path get fuzzed too). Its log must not hold a
single unhandled error or database error either: a 5xx that schemathesis missed would
still have left its stack trace there.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mercato.platform.db import migrations
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import RunningMercato, free_port, mercato_env, start_mercato

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ADMIN_EMAIL = "fuzz-admin@example.com"
ADMIN_PASSWORD = "a fuzzing administrator's passphrase"
PHASES = "examples,coverage,fuzzing,stateful"
MAX_EXAMPLES = "50"
SEED = "20261201"
# An administrator's run leaves out what would end its own session (the token would then
# only earn 401s): signing out, changing its password, revoking its sessions.
SELF_ENDING = (
    "--exclude-path",
    "/api/v1/auth/logout",
    "--exclude-path",
    "/api/v1/users/me/password",
    "--exclude-path-regex",
    "^/api/v1/auth/sessions/",
)


@dataclass
class FuzzedServer:
    server: RunningMercato
    admin_token: str


@pytest.fixture(scope="module")
async def fuzzed(postgres_server: str) -> AsyncIterator[FuzzedServer]:
    url = await create_database(postgres_server, prefix="mercato_fuzz")
    await asyncio.to_thread(migrations.upgrade, url)
    env = mercato_env(
        DATABASE_URL=url,
        MERCATO_PORT=str(free_port()),
        HTTP_RATE_LIMITS_ENABLED="false",
        LOG_LEVEL="WARNING",
    )
    server = start_mercato("serve", env=env)
    try:
        yield await asyncio.to_thread(_with_an_administrator, server, env)
    finally:
        await asyncio.to_thread(server.stop, signal.SIGTERM)
        await drop_database(postgres_server, url)


def _with_an_administrator(server: RunningMercato, env: dict[str, str]) -> FuzzedServer:
    """`mercato createadmin`, then the administrator's access token from the server."""
    created = subprocess.run(
        [sys.executable, "-m", "mercato", "createadmin", "--email", ADMIN_EMAIL],
        input=ADMIN_PASSWORD,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    server.wait_ready()
    login = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    return FuzzedServer(server, login.json()["access_token"])


def _schemathesis(base_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "st"),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--phases",
        PHASES,
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        "--workers",
        "2",
        "--request-timeout",
        "30",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=1_200, check=False)


@pytest.mark.timeout(1_500)
@pytest.mark.parametrize("as_admin", [False, True], ids=["anonymous", "admin"])
def test_schemathesis_finds_no_server_error(fuzzed: FuzzedServer, as_admin: bool) -> None:
    extra = ("-H", f"Authorization: Bearer {fuzzed.admin_token}", *SELF_ENDING) if as_admin else ()
    result = _schemathesis(fuzzed.server.base_url, *extra)
    assert result.returncode == 0, result.stdout[-8_000:] + result.stderr[-2_000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in result.stdout, result.stdout[-4_000:]


def test_the_server_logged_no_unhandled_or_database_error(fuzzed: FuzzedServer) -> None:
    """Runs after both fuzzing runs (same module): the log of everything they sent."""
    fuzzed.server.stop(signal.SIGTERM)
    log = fuzzed.server.output()
    assert "unhandled_error" not in log, log[-4_000:]
    assert '"database_error"' not in log, log[-4_000:]
    # The class-22 safety net caught something no input type refused: a type to bound.
    assert "database_refused_value" not in log, log[-4_000:]
    assert "Traceback" not in log, log[-4_000:]
