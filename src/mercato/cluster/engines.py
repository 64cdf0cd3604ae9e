"""The engines under the application: PostgreSQL primary and streaming replica, Redis,
NATS JetStream and nginx, each a foreground process the supervisor keeps alive, plus the
one-time preparation of their data directories.

PostgreSQL refuses to run as root; as root, its clusters belong to the `postgres` OS user
(the Debian package's), as the embedded database does with a user of its own.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import subprocess
import time
from pathlib import Path

import asyncpg

from mercato.cluster.topology import (
    DATABASE,
    Layout,
    Program,
    executable,
    postgres_binaries,
    running_as_root,
)

POSTGRES_USER = "postgres"
NGINX_TEMPLATE = Path("deploy/nginx/templates/mercato.conf.template")
_PLACEHOLDER = re.compile(r"\$\{(MERCATO_[A-Z_]+)\}")


def postgres_owner() -> str | None:
    """The OS user PostgreSQL runs as: `postgres` when we are root, else ourselves."""
    return POSTGRES_USER if running_as_root() else None


def primary_dir(layout: Layout) -> Path:
    return layout.data / "postgres" / "primary"


def replica_dir(layout: Layout) -> Path:
    return layout.data / "postgres" / "replica"


def socket_dir(layout: Layout) -> Path:
    return layout.data / "postgres" / "sockets"


def engine_programs(layout: Layout) -> list[Program]:
    """The engines, in start order: the primary first (the replica streams from it)."""
    bin_dir = postgres_binaries()
    owner = postgres_owner()
    listed = [_postgres("postgres-primary", bin_dir, primary_dir(layout), layout.primary_port)]
    if layout.shape.replica:
        listed.append(
            _postgres("postgres-replica", bin_dir, replica_dir(layout), layout.replica_port)
        )
    listed = [Program(p.name, p.argv, p.env, port=p.port, user=owner) for p in listed] + [
        Program(
            "redis",
            (
                executable("redis-server"),
                "--bind",
                "127.0.0.1",
                "--port",
                str(layout.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(layout.data / "redis"),
            ),
            port=layout.redis_port,
        ),
        Program(
            "nats",
            (
                executable("nats-server"),
                "-a",
                "127.0.0.1",
                "-p",
                str(layout.nats_port),
                "-js",
                "-sd",
                str(layout.data / "nats"),
            ),
            port=layout.nats_port,
        ),
    ]
    return listed


def nginx_program(layout: Layout) -> Program:
    """nginx in the foreground on the rendered shared config (started after the processes)."""
    prefix = layout.data / "nginx"
    return Program(
        "nginx",
        (
            executable("nginx"),
            "-p",
            str(prefix),
            "-c",
            str(prefix / "nginx.conf"),
            "-e",
            str(layout.logs / "nginx-error.log"),
            "-g",
            "daemon off;",
        ),
        port=layout.nginx_port,
        ready_path="/nginx/health",
    )


def _postgres(name: str, bin_dir: Path, data: Path, port: int) -> Program:
    return Program(name, (str(bin_dir / "postgres"), "-D", str(data), "-p", str(port)), port=port)


def prepare_directories(layout: Layout) -> None:
    """The data tree; the PostgreSQL part owned by its OS user, reachable through parents."""
    for part in ("logs", "redis", "nats", "nginx", "keys", "postgres/sockets"):
        (layout.data / part).mkdir(parents=True, exist_ok=True)
    owner = postgres_owner()
    if owner is None:
        return
    entry = pwd.getpwnam(owner)
    postgres_root = layout.data / "postgres"
    for directory in (postgres_root, socket_dir(layout)):
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    # The postgres user must traverse the repository's directories down to its data.
    for parent in postgres_root.parents:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def initialise_primary(layout: Layout) -> bool:
    """`initdb` the primary once, configured for streaming replication; False if it exists."""
    data = primary_dir(layout)
    if (data / "PG_VERSION").exists():
        return False
    _as_postgres(
        [
            str(postgres_binaries() / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
        layout,
    )
    settings = [
        "listen_addresses = '127.0.0.1'",
        f"unix_socket_directories = '{socket_dir(layout)}'",
        "wal_level = replica",
        "max_wal_senders = 5",
        "wal_keep_size = '256MB'",
        "hot_standby = on",
        "hot_standby_feedback = on",
        "max_connections = 200",
        "shared_buffers = '128MB'",
        "fsync = on",
        "synchronous_commit = on",
        "logging_collector = off",
    ]
    with (data / "postgresql.auto.conf").open("a") as conf:
        conf.write("\n".join(settings) + "\n")
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write("host replication postgres 127.0.0.1/32 trust\n")
    return True


def create_database(layout: Layout) -> None:
    """The application's database on the primary (idempotent)."""
    asyncio.run(_create_database(layout.primary_port))


def wait_for_postgres(port: int, *, timeout_s: float = 60.0) -> None:
    """Until the server on `port` answers a query (an open port may still be starting up,
    a replica still replaying to consistency)."""
    asyncio.run(_wait_for_postgres(port, timeout_s))


async def _wait_for_postgres(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connection = await asyncpg.connect(
                host="127.0.0.1", port=port, user="postgres", database="postgres", timeout=5
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
            continue
        await connection.close()
        return


async def _create_database(port: int) -> None:
    connection = await asyncpg.connect(
        host="127.0.0.1", port=port, user="postgres", database="postgres", timeout=10
    )
    try:
        found = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if found is None:
            # An identifier cannot be a parameter; DATABASE is a constant of this module.
            await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close()


def initialise_replica(layout: Layout) -> bool:
    """The replica, copied from the running primary by `pg_basebackup -R` (which writes the
    standby signal and the primary's conninfo); False if it exists."""
    data = replica_dir(layout)
    if (data / "PG_VERSION").exists():
        return False
    _as_postgres(
        [
            str(postgres_binaries() / "pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(layout.primary_port),
            "-U",
            "postgres",
            "-D",
            str(data),
            "-R",
            "--checkpoint=fast",
            "--wal-method=stream",
        ],
        layout,
    )
    with (data / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"port = {layout.replica_port}\n")
    return True


def render_nginx(
    layout: Layout,
    *,
    prefix: Path | None = None,
    port: int | None = None,
    api_ports: list[int] | None = None,
) -> Path:
    """The shared nginx template, filled for this cluster's loopback processes (or, for a
    comparison, another port in front of only some API processes); the main config."""

    def servers(ports: list[int]) -> str:
        return "\n    ".join(
            f"server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in ports
        )

    values = {
        "MERCATO_LISTEN": f"127.0.0.1:{port or layout.nginx_port}",
        "MERCATO_API_SERVERS": servers(api_ports or layout.api_ports()),
        "MERCATO_PAYMENTS_SERVERS": servers(layout.payments_ports()),
        "MERCATO_RESOLVER": "",
    }
    site = render_template((layout.root / NGINX_TEMPLATE).read_text(), values)
    prefix = prefix or layout.data / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "mercato.conf").write_text(site)
    temp = prefix / "temp"
    temp.mkdir(exist_ok=True)
    main = f"""# Written by `mercato cluster up`: the shared site config below, on loopback.
worker_processes 2;
pid {prefix / "nginx.pid"};
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {prefix / "mercato.conf"};
}}
"""
    path = prefix / "nginx.conf"
    path.write_text(main)
    return path


def render_template(text: str, values: dict[str, str]) -> str:
    """`${MERCATO_*}` replaced (as the nginx image's envsubst does); a name without a value
    is an error rather than an empty string in the config."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"the nginx template needs {name}")
        return values[name]

    return _PLACEHOLDER.sub(substitute, text)


def _as_postgres(argv: list[str], layout: Layout) -> None:
    owner = postgres_owner()
    log = (layout.logs / "postgres-setup.log").open("a")
    with log:
        subprocess.run(  # noqa: S603 - fixed binaries, arguments built here
            argv,
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=owner,
            group=owner,
            cwd="/",
            timeout=120,
        )
