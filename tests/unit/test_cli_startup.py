"""`mercato --help` stays fast: the command line imports no web stack and no SQLAlchemy
until a command needs them (timing itself is not asserted; what is imported is)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mercato import __version__

HEAVY = ("fastapi", "starlette", "sqlalchemy", "uvicorn", "asyncpg", "alembic", "procrastinate")

_PROBE = """
import sys
from mercato.cli import app
try:
    app(sys.argv[1:], prog_name="mercato")
except SystemExit:
    pass
heavy = [name for name in {heavy!r} if name in sys.modules]
print("HEAVY:" + ",".join(heavy))
"""


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("migrate", "--help")])
def test_the_command_line_imports_no_web_stack_for_help(args: tuple[str, ...]) -> None:
    result = _probe(*args)
    assert "HEAVY:\n" in result.stdout, result.stdout


def test_help_lists_the_lazily_mounted_services_without_importing_them() -> None:
    result = _probe("--help")
    assert "payments" in result.stdout
    assert "sandbox" in result.stdout
    assert "HEAVY:\n" in result.stdout


def test_version() -> None:
    result = _probe("--version")
    assert result.stdout.startswith(f"mercato {__version__}\n")


def test_a_lazily_mounted_group_runs_its_commands() -> None:
    result = _probe("payments", "--help")
    assert "migrate" in result.stdout
    assert "worker" in result.stdout
