"""Where each piece of the cluster runs: ports, directories, and each process's command and
environment. Pure data: nothing here starts anything."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Clear of the machine's own services (5432, 6379, 4222, 5672) and of the usual dev ports.
DEFAULT_BASE_PORT = 18400
DATABASE = "mercato"
TRUSTED_PROXIES = "127.0.0.1/32"


@dataclass(frozen=True, slots=True)
class Shape:
    """How many of each process: the full topology by default, fewer for a smoke test."""

    api: int = 3
    payments: int = 2
    workers: int = 2
    replica: bool = True
    # Off only for throughput measurements from one client address.
    rate_limits: bool = True
    # Products of a generated demo catalog loaded on a first start (0: none).
    demo_products: int = 1_000


@dataclass(frozen=True, slots=True)
class Program:
    """One long-running process of the cluster, restarted by the supervisor when it dies."""

    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    # Checked for an HTTP 200 before the cluster counts as up (a path on `port`).
    ready_path: str | None = None
    # Started as this OS user when the supervisor runs as root (PostgreSQL refuses root).
    user: str | None = None


@dataclass(frozen=True, slots=True)
class Layout:
    """The cluster's directories and ports, derived from the repository root and a base port."""

    root: Path
    base_port: int = DEFAULT_BASE_PORT
    shape: Shape = Shape()
    # Default: `<root>/.data/cluster` (tests give one of their own).
    data_dir: Path | None = None

    @property
    def data(self) -> Path:
        return self.data_dir or self.root / ".data" / "cluster"

    @property
    def logs(self) -> Path:
        return self.data / "logs"

    @property
    def state_file(self) -> Path:
        return self.data / "cluster.json"

    @property
    def nginx_port(self) -> int:
        return self.base_port

    @property
    def primary_port(self) -> int:
        return self.base_port + 32

    @property
    def replica_port(self) -> int:
        return self.base_port + 33

    @property
    def redis_port(self) -> int:
        return self.base_port + 79

    @property
    def nats_port(self) -> int:
        return self.base_port + 22

    @property
    def sandbox_port(self) -> int:
        return self.base_port + 2

    def api_ports(self) -> list[int]:
        return [self.base_port + 10 + index for index in range(self.shape.api)]

    def payments_ports(self) -> list[int]:
        return [self.base_port + 50 + index for index in range(self.shape.payments)]

    def database_url(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def urls(self) -> dict[str, str]:
        """Every address of the running cluster, for `up` to print."""
        urls = {
            "API (nginx)": f"{self.public_url}/docs",
            "payments (nginx)": f"{self.public_url}/payments/docs",
        }
        for number, port in enumerate(self.api_ports(), 1):
            urls[f"API process {number}"] = f"http://127.0.0.1:{port}"
        for number, port in enumerate(self.payments_ports(), 1):
            urls[f"payments process {number}"] = f"http://127.0.0.1:{port}"
        urls["sandbox provider"] = f"http://127.0.0.1:{self.sandbox_port}"
        urls["PostgreSQL primary"] = self.database_url(self.primary_port)
        if self.shape.replica:
            urls["PostgreSQL replica"] = self.database_url(self.replica_port)
        urls["Redis"] = f"redis://127.0.0.1:{self.redis_port}/0"
        urls["NATS JetStream"] = f"nats://127.0.0.1:{self.nats_port}"
        urls["logs"] = str(self.logs)
        return urls

    def common_env(self) -> dict[str, str]:
        """What every Mercato process of the cluster shares: the engines and the key files."""
        credentials = str(self.data / "keys" / "sandbox-credentials.json")
        return {
            "MERCATO_DATA_DIR": str(self.data),
            "DATABASE_URL": self.database_url(self.primary_port),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "EVENTS_TRANSPORT": "nats",
            "NATS_URL": f"nats://127.0.0.1:{self.nats_port}",
            "HTTP_TRUSTED_PROXIES": TRUSTED_PROXIES,
            "LOG_JSON": "true",
            "IDENTITY_PUBLIC_URL": self.public_url,
            "PAYMENTS_JWKS_URL": f"{self.public_url}/.well-known/jwks.json",
            "PAYMENTS_SANDBOX_URL": f"http://127.0.0.1:{self.sandbox_port}",
            "PAYMENTS_SANDBOX_CREDENTIALS_FILE": credentials,
            "SANDBOX_CREDENTIALS_FILE": credentials,
            "SANDBOX_PORT": str(self.sandbox_port),
            "SANDBOX_DATABASE_URL": self.database_url(self.primary_port),
            "SANDBOX_WEBHOOK_URL": f"{self.public_url}/payments/webhooks/sandbox",
            # The checkout asks the payments service for intents through nginx (both
            # payments processes, one going down costs a retry); customers confirm there too.
            "ORDERS_PAYMENTS_URL": f"{self.public_url}/payments",
            "PYTHONUNBUFFERED": "1",
        }


def mercato(*arguments: str) -> tuple[str, ...]:
    """The `mercato` command of this interpreter's environment."""
    return (sys.executable, "-m", "mercato", *arguments)


def programs(layout: Layout) -> list[Program]:
    """The application processes, in start order (engines first: see `engines`)."""
    common = layout.common_env()
    api_env = dict(common)
    if layout.shape.replica:
        # API processes only: public catalog reads go to the replica; a caller with a token
        # reads on the primary (read-your-writes, `platform/db/database.py`). Workers and
        # the payments service read their own writes, so they stay on the primary.
        api_env["DATABASE_READ_URL"] = layout.database_url(layout.replica_port)
    if not layout.shape.rate_limits:
        api_env["HTTP_RATE_LIMITS_ENABLED"] = "false"
    listed: list[Program] = [
        Program(
            "sandbox",
            mercato("sandbox", "serve"),
            common,
            port=layout.sandbox_port,
            ready_path="/health/live",
        )
    ]
    for number, port in enumerate(layout.api_ports(), 1):
        listed.append(
            Program(
                f"api-{number}",
                mercato("serve", "--host", "127.0.0.1", "--port", str(port)),
                api_env,
                port=port,
                ready_path="/health/ready",
            )
        )
    for number, port in enumerate(layout.payments_ports(), 1):
        listed.append(
            Program(
                f"payments-{number}",
                mercato("payments", "serve", "--host", "127.0.0.1", "--port", str(port)),
                common,
                port=port,
                ready_path="/health/ready",
            )
        )
    for number in range(1, layout.shape.workers + 1):
        listed.append(Program(f"worker-{number}", mercato("worker"), common))
    listed.append(Program("payments-worker", mercato("payments", "worker"), common))
    return listed


def postgres_binaries() -> Path:
    """The newest PostgreSQL installed from the distribution (`/usr/lib/postgresql/N/bin`)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
    return found[-1].parent


def executable(name: str) -> str:
    """An engine's binary on PATH or in the usual sbin directories."""
    located = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if located is None:
        raise FileNotFoundError(f"{name} is not installed (apt-get install {name})")
    return located


def running_as_root() -> bool:
    return os.geteuid() == 0
