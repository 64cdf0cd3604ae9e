"""The cluster's supervisor: one detached process that brings the engines and Mercato's
processes up in order, restarts any that dies (with backoff), and stops them all, in
reverse order, on SIGTERM. Its state (pids, ports, restarts) is `cluster.json`, which
`mercato cluster status|down` and the tests read.

Run by `mercato cluster up` as `python -m mercato.cluster.supervisor ...`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mercato.cluster import engines
from mercato.cluster.topology import Layout, Program, Shape, mercato, programs

# Variables of the outer environment that would point a cluster process elsewhere.
_FOREIGN_PREFIXES = (
    "DATABASE_",
    "REDIS_",
    "NATS_",
    "EVENTS_",
    "MERCATO_",
    "HTTP_",
    "PAYMENTS_",
    "SANDBOX_",
    "IDENTITY_",
    "CATALOG_",
    "JOBS_",
    "SMTP_",
    "MAIL_",
)
STOP_GRACE_S = 15.0
READY_TIMEOUT_S = 90.0
ADMIN_EMAIL = "admin@cluster.mercato.example.com"
_RESTART_BACKOFF_MAX_S = 5.0
_STABLE_AFTER_S = 10.0


@dataclass
class Child:
    program: Program
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff_s: float = 0.5
    restart_at: float | None = None


@dataclass
class Supervisor:
    layout: Layout
    children: list[Child] = field(default_factory=list)
    status: str = "starting"
    error: str | None = None
    stopping: bool = False

    # -- start -------------------------------------------------------------------------

    def start(self) -> None:
        layout = self.layout
        engines.prepare_directories(layout)
        engines.initialise_primary(layout)
        by_name = {program.name: program for program in engines.engine_programs(layout)}
        self._launch_and_wait(by_name.pop("postgres-primary"))
        engines.wait_for_postgres(layout.primary_port)
        engines.create_database(layout)
        if layout.shape.replica:
            engines.initialise_replica(layout)
        for program in by_name.values():
            self._launch(program)
        for program in by_name.values():
            self._wait_for_port(program)
        if layout.shape.replica:
            engines.wait_for_postgres(layout.replica_port)
        # Two histories in two schemas (the API's, the payments service's): side by side.
        self._all_once(
            [
                ("migrate", mercato("migrate", "up")),
                ("payments-migrate", mercato("payments", "migrate", "up")),
            ]
        )
        self._first_start_data()
        # Key files are created by the first process that needs them: the identity keys
        # by the steps above, the sandbox's credentials by the sandbox (the payments
        # processes read them), the payments field keys by the first payments process.
        # So: the sandbox, the API processes and the workers at once; payments-1 once the
        # sandbox is ready; the other payments processes once payments-1 is.
        apps = {program.name: program for program in programs(layout)}
        early = [p for name, p in apps.items() if not name.startswith("payments")]
        for program in early:
            self._launch(program)
        self._wait_ready(apps["sandbox"])
        self._launch_and_wait(apps["payments-1"])
        late = [
            p for name, p in apps.items() if name.startswith("payments") and name != "payments-1"
        ]
        for program in late:
            self._launch(program)
        engines.render_nginx(layout)
        nginx = engines.nginx_program(layout)
        self._launch(nginx)
        for program in [*early, *late, nginx]:
            self._wait_ready(program)
        self.status = "up"
        self.write_state()

    def _first_start_data(self) -> None:
        """On a first start: an administrator for trying the cluster (and for the tests),
        its password written to keys/admin.json (mode 0600), and a demo catalog."""
        path = self.layout.data / "keys" / "admin.json"
        if path.exists():
            return
        products = self.layout.shape.demo_products
        if products:
            self._once(
                "seed",
                mercato("seed", "catalog", "--products", str(products), "--categories", "20"),
            )
        password = secrets.token_urlsafe(18)
        self._once(
            "createadmin", mercato("createadmin", "--email", ADMIN_EMAIL), stdin=password + "\n"
        )
        path.write_text(json.dumps({"email": ADMIN_EMAIL, "password": password}))
        path.chmod(0o600)

    def _all_once(self, commands: list[tuple[str, tuple[str, ...]]]) -> None:
        """Run one-off commands side by side; fail if any failed."""
        running = []
        for name, argv in commands:
            log = (self.layout.logs / f"{name}.log").open("ab")
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                argv,
                env=self._environment(Program(name, argv, self.layout.common_env())),
                cwd=self.layout.data,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            running.append((name, process, log))
        failed = []
        for name, process, log in running:
            try:
                if process.wait(timeout=180) != 0:
                    failed.append(name)
            finally:
                log.close()
        if failed:
            raise RuntimeError(f"{', '.join(failed)} failed: see logs/{failed[0]}.log")

    def _once(self, name: str, argv: tuple[str, ...], *, stdin: str | None = None) -> None:
        with (self.layout.logs / f"{name}.log").open("ab") as log:
            done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
                argv,
                env=self._environment(Program(name, argv, self.layout.common_env())),
                cwd=self.layout.data,
                input=stdin.encode() if stdin is not None else None,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=180,
                check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed (exit {done.returncode}): see logs/{name}.log")

    def _launch(self, program: Program) -> Child:
        child = Child(program)
        self.children.append(child)
        self._spawn(child)
        self.write_state()
        return child

    def _launch_and_wait(self, program: Program) -> None:
        self._launch(program)
        self._wait_ready(program)

    def _spawn(self, child: Child) -> None:
        program = child.program
        if child.log is None:
            child.log = (self.layout.logs / f"{program.name}.log").open("ab")
        child.process = subprocess.Popen(  # noqa: S603 - the topology's fixed commands
            program.argv,
            env=self._environment(program),
            cwd="/" if program.user else self.layout.data,
            stdin=subprocess.DEVNULL,
            stdout=child.log,
            stderr=subprocess.STDOUT,
            user=program.user,
            group=program.user,
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        child.restart_at = None

    def _environment(self, program: Program) -> dict[str, str]:
        inherited = {
            key: value for key, value in os.environ.items() if not key.startswith(_FOREIGN_PREFIXES)
        }
        return {**inherited, **program.env}

    def _wait_for_port(self, program: Program) -> None:
        if program.port is None:
            return
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not port_open(program.port):
            self._check_alive(program)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{program.name} did not open port {program.port}")
            time.sleep(0.1)

    def _wait_ready(self, program: Program) -> None:
        self._wait_for_port(program)
        if program.ready_path is None or program.port is None:
            return
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not http_ok(f"http://127.0.0.1:{program.port}{program.ready_path}"):
            self._check_alive(program)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{program.name} is not ready at {program.ready_path}")
            time.sleep(0.1)

    def _check_alive(self, program: Program) -> None:
        if self.stopping:
            raise RuntimeError("asked to stop while starting")
        child = next(c for c in self.children if c.program is program)
        if child.process is not None and child.process.poll() is not None:
            raise RuntimeError(
                f"{program.name} exited ({child.process.returncode}): see logs/{program.name}.log"
            )

    # -- run -------------------------------------------------------------------------

    def watch(self) -> None:
        """Restart what dies until told to stop (one pass every 100 ms)."""
        while not self.stopping:
            now = time.monotonic()
            changed = False
            for child in self.children:
                process = child.process
                if process is None or process.poll() is None:
                    if process is not None and now - child.started_at > _STABLE_AFTER_S:
                        child.backoff_s = 0.5
                    continue
                if child.restart_at is None:
                    child.restart_at = now + child.backoff_s
                    child.backoff_s = min(child.backoff_s * 2, _RESTART_BACKOFF_MAX_S)
                elif now >= child.restart_at:
                    child.restarts += 1
                    self._spawn(child)
                    changed = True
            if changed:
                self.write_state()
            time.sleep(0.1)

    # -- stop ------------------------------------------------------------------------

    def stop(self) -> None:
        """Everything, newest first: nginx, the processes, then the engines."""
        self.stopping = True
        self.status = "stopping"
        self.write_state()
        for child in reversed(self.children):
            process = child.process
            if process is None or process.poll() is not None:
                continue
            # PostgreSQL's SIGINT is its fast shutdown; SIGTERM would wait for clients.
            signum = signal.SIGINT if child.program.name.startswith("postgres") else signal.SIGTERM
            _signal(process, signum)
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL)
                process.wait(timeout=5)
        for child in self.children:
            if child.log is not None:
                child.log.close()
        self.status = "down"
        self.write_state()

    def write_state(self) -> None:
        state: dict[str, Any] = {
            "status": self.status,
            "error": self.error,
            "supervisor_pid": os.getpid(),
            "base_port": self.layout.base_port,
            "urls": self.layout.urls(),
            "processes": {
                child.program.name: {
                    "pid": child.process.pid if child.process is not None else None,
                    "port": child.program.port,
                    "restarts": child.restarts,
                }
                for child in self.children
            },
        }
        temporary = self.layout.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(self.layout.state_file)


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback http
            return bool(answer.status == 200)
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mercato.cluster.supervisor")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--base-port", type=int, required=True)
    parser.add_argument("--api", type=int, default=3)
    parser.add_argument("--payments", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-replica", action="store_true")
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument("--demo-products", type=int, default=1_000)
    parser.add_argument("--detach", action="store_true", help="Fork and return at once")
    options = parser.parse_args(argv)
    if options.detach and os.fork() > 0:
        # The caller waits for this parent only; the supervisor lives on as a child of
        # init, so it is reaped when it exits instead of lingering as the caller's zombie.
        return 0
    shape = Shape(
        api=options.api,
        payments=options.payments,
        workers=options.workers,
        replica=not options.no_replica,
        rate_limits=not options.no_rate_limits,
        demo_products=options.demo_products,
    )
    layout = Layout(options.root, options.base_port, shape, options.data)
    supervisor = Supervisor(layout)

    def ask_to_stop(signum: int, frame: object) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGTERM, ask_to_stop)
    signal.signal(signal.SIGINT, ask_to_stop)
    try:
        supervisor.start()
        supervisor.watch()
    except Exception as error:  # noqa: BLE001 - said in the state file, then everything stops
        supervisor.error = str(error)
        supervisor.status = "failed"
        supervisor.write_state()
        sys.stderr.write(f"cluster: {error}\n")
        supervisor.stop()
        supervisor.status = "failed"
        supervisor.write_state()
        return 1
    supervisor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
