"""`mercato cluster up|down|status` (and `make cluster` / `make cluster-down`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mercato.cluster import control
from mercato.cluster.topology import DEFAULT_BASE_PORT, Layout, Shape

app = typer.Typer(
    help="Mercato scaled out on this machine: nginx, N API and payments processes, "
    "PostgreSQL primary + replica, Redis, NATS JetStream, workers (data in .data/cluster/).",
    no_args_is_help=True,
)

BasePort = Annotated[
    int, typer.Option(help="nginx's port; the others follow it (+10.. API, +32 PostgreSQL ...)")
]
Data = Annotated[Path | None, typer.Option(help="Data directory [.data/cluster]")]


def _layout(base_port: int, data: Path | None, shape: Shape | None = None) -> Layout:
    return Layout(control.repository_root(), base_port, shape or Shape(), data)


@app.command()
def up(  # noqa: PLR0917 - typer options
    base_port: BasePort = DEFAULT_BASE_PORT,
    data: Data = None,
    api: Annotated[int, typer.Option(min=1, max=9, help="API processes")] = 3,
    payments: Annotated[int, typer.Option(min=1, max=9, help="Payments processes")] = 2,
    workers: Annotated[int, typer.Option(min=1, max=9, help="Workers")] = 2,
    replica: Annotated[bool, typer.Option(help="A streaming replica for reads")] = True,
    demo_products: Annotated[
        int, typer.Option(min=0, max=1_000_000, help="Demo catalog loaded on a first start")
    ] = 1_000,
) -> None:
    """Start the cluster in the background and print every URL once it is ready."""
    shape = Shape(api, payments, workers, replica, demo_products=demo_products)
    layout = _layout(base_port, data, shape)
    typer.echo(f"cluster: starting under {layout.data} (logs in {layout.logs}) ...", err=True)
    try:
        state = control.up(layout)
    except control.ClusterError as error:
        typer.echo(f"cluster: {error}", err=True)
        raise typer.Exit(2) from None
    width = max(len(name) for name in state["urls"])
    for name, url in state["urls"].items():
        typer.echo(f"  {name:<{width}}  {url}")
    admin = layout.data / "keys" / "admin.json"
    typer.echo(f"  {'admin':<{width}}  {admin} (email and password)")
    typer.echo(f"\n  curl -s {layout.public_url}/api/v1/products?limit=3")
    typer.echo("  stop with: make cluster-down  (or mercato cluster down)")


@app.command()
def down(base_port: BasePort = DEFAULT_BASE_PORT, data: Data = None) -> None:
    """Stop every process of the cluster (data stays in .data/cluster/)."""
    layout = _layout(base_port, data)
    try:
        stopped = control.down(layout)
    except control.ClusterError as error:
        typer.echo(f"cluster: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo("cluster: stopped" if stopped else "cluster: not running", err=True)


@app.command()
def status(base_port: BasePort = DEFAULT_BASE_PORT, data: Data = None) -> None:
    """The cluster's state: each process's pid, port and restarts (JSON)."""
    state = control.read_state(_layout(base_port, data))
    if not control.supervisor_alive(state):
        typer.echo("cluster: not running", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(state, indent=2))
