"""Expected failures of `mercato run`/`serve`/`worker` end in one line of advice and exit
code 2: a port in use (found before any database work), a schema not migrated."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import asyncpg
import pytest

from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_port, mercato_env, run_mercato

pytestmark = pytest.mark.e2e


@pytest.fixture
def empty_database(postgres_server: str) -> Iterator[str]:
    """A database nobody migrated."""
    url = asyncio.run(create_database(postgres_server, prefix="mercato_empty"))
    try:
        yield url
    finally:
        asyncio.run(drop_database(postgres_server, url))


async def _tables(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        assert isinstance(count, int)
        return count
    finally:
        await connection.close()


def _advice(stderr: str) -> str:
    """The one line that is not a progress line; the output has no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("{")]
    failures = [line for line in lines if "starting (" not in line]
    assert len(failures) == 1, stderr
    return failures[0]


def test_a_port_in_use_is_reported_before_any_migration(empty_database: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_mercato(
            "run", "--port", str(port), env=mercato_env(DATABASE_URL=empty_database)
        )
    assert result.returncode == 2
    advice = _advice(result.stderr)
    assert f"port {port} on 127.0.0.1 is in use" in advice
    assert "--port" in advice
    assert asyncio.run(_tables(empty_database)) == 0  # nothing was migrated


@pytest.mark.parametrize("command", [("serve",), ("worker",), ("events", "dead-letters")])
def test_an_unmigrated_schema_says_what_to_run(
    empty_database: str, command: tuple[str, ...]
) -> None:
    env = mercato_env(DATABASE_URL=empty_database, MERCATO_PORT=str(free_port()))
    result = run_mercato(*command, env=env)
    assert result.returncode == 2
    advice = _advice(result.stderr)
    assert "schema is empty" in advice
    assert "mercato migrate up" in advice


def test_run_takes_host_and_port_options(empty_database: str) -> None:
    # `--host` names an interface this machine does not have: refused before migrating.
    result = run_mercato(
        "run",
        "--host",
        "192.0.2.1",
        "--port",
        str(free_port()),
        env=mercato_env(DATABASE_URL=empty_database),
    )
    assert result.returncode == 2
    assert "cannot listen on 192.0.2.1" in _advice(result.stderr)
