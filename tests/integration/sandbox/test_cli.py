"""`python -m mercato.sandbox.cli serve` as a real process: credentials on first use,
readiness, graceful shutdown, and one clear line for a bad setting."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mercato.sandbox.cli import app
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e
CLI = (sys.executable, "-m", "mercato.sandbox.cli")


def _env(**values: str | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SANDBOX_")}
    env["LOG_LEVEL"] = "WARNING"
    for name, value in values.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _wait_ready(process: subprocess.Popen[str], base_url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the sandbox exited with {process.returncode}: {process.communicate()}"
            )
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the sandbox did not become ready")


def test_serve_creates_credentials_answers_and_stops_cleanly(
    sandbox_database: str, tmp_path: Path
) -> None:
    credentials = tmp_path / "keys" / "sandbox.json"
    port = free_port()
    env = _env(SANDBOX_DATABASE_URL=sandbox_database, SANDBOX_CREDENTIALS_FILE=str(credentials))
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_ready(process, f"http://127.0.0.1:{port}")
        document = json.loads(credentials.read_text())
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        assert document["api_key"].startswith("sk_sandbox_")
        assert document["webhook_secrets"][0].startswith("whsec_")
        headers = {"Authorization": f"Bearer {document['api_key']}"}
        created = httpx.post(
            f"http://127.0.0.1:{port}/v1/payment_intents",
            json={"amount": 100, "currency": "EUR", "reference": "cli"},
            headers=headers,
        )
        assert created.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert document["api_key"] not in output
    assert document["webhook_secrets"][0] not in output


@pytest.mark.usefixtures("preserved_logging")
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SANDBOX_ERROR_RATE": "2"}, "SANDBOX_ERROR_RATE"),
        ({"SANDBOX_API_KEYS": "short"}, "SANDBOX_API_KEYS"),
        ({"SANDBOX_DATABASE_URL": "mysql://x@y/z"}, "SANDBOX_DATABASE_URL"),
        ({"SANDBOX_DATABASE_URL": None, "DATABASE_URL": None}, "no database"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_code_2(
    sandbox_database: str, tmp_path: Path, env: dict[str, str | None], message: str
) -> None:
    settings = {
        "SANDBOX_DATABASE_URL": sandbox_database,
        "SANDBOX_CREDENTIALS_FILE": str(tmp_path / "c.json"),
    }
    # In process (the same code as the command line, minus a 4 s interpreter start).
    result = CliRunner().invoke(app, ["serve", "--port", str(free_port())], env=settings | env)

    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "short" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
