"""Without Redis, a write in another process retires what `mercato serve` cached."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import free_port, mercato_env, run_mercato, start_mercato

pytestmark = pytest.mark.e2e

FRESH_WITHIN_S = 3.0


def test_a_cli_import_retires_the_cached_list_of_a_running_server(
    scratch_database: str, tmp_path: Path
) -> None:
    env = mercato_env(DATABASE_URL=scratch_database, REDIS_URL=None, MERCATO_PORT=str(free_port()))
    server = start_mercato("serve", env=env)
    try:
        server.wait_ready()
        products = f"{server.base_url}/api/v1/products?limit=50"
        before = httpx.get(products)
        assert before.status_code == 200
        assert httpx.get(products).headers["etag"] == before.headers["etag"]  # cached

        line = (
            '{"handle": "fresh-from-the-cli", "name": "Fresh", "status": "active",'
            ' "sku": "FRESH-1", "price_eur": "1.00", "on_hand": 3}\n'
        )
        (tmp_path / "fresh.jsonl").write_text(line, encoding="utf-8")
        imported = run_mercato("catalog", "import", str(tmp_path / "fresh.jsonl"), env=env)
        assert imported.returncode == 0, imported.stderr

        deadline = time.monotonic() + FRESH_WITHIN_S
        while "fresh-from-the-cli" not in httpx.get(products).text:
            assert time.monotonic() < deadline, "the server kept serving its stale list"
            time.sleep(0.05)
    finally:
        server.stop(signal.SIGKILL)
