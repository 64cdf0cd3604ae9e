"""`mercato sandbox serve`: the simulated card processor as a process of its own.

Mounted under the main CLI as `mercato sandbox …`; `python -m mercato.sandbox.cli serve`
runs it directly. SIGINT/SIGTERM drain the requests in flight (uvicorn's graceful
shutdown), stop the background clock, and exit 0.
"""

from __future__ import annotations

import signal
from typing import Annotated, NoReturn

import typer
import uvicorn
from pydantic import ValidationError

from mercato.platform.config import LogSettings, redact_url
from mercato.platform.observability.logging import configure_logging
from mercato.sandbox.app import create_sandbox_app
from mercato.sandbox.config import SandboxSettings
from mercato.sandbox.credentials import with_credentials

EXIT_CONFIG = 2
EXIT_STARTUP = 3
GRACEFUL_SHUTDOWN_S = 10

app = typer.Typer(
    help="The sandbox payment provider: a simulated card processor for development and tests.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def sandbox() -> None:
    """The sandbox payment provider (docs/sandbox.md)."""


def _fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    typer.echo(f"mercato sandbox: {message}", err=True)
    raise typer.Exit(code)


def _describe(error: ValidationError) -> str:
    """The variable at fault, never its value (it may be a secret)."""
    first = error.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in first["loc"]).upper()
    message = first["msg"].removeprefix("Value error, ")
    if not field:
        return message
    variable = field if field.startswith("SANDBOX_") else f"SANDBOX_{field}"
    if variable == "SANDBOX_DATABASE_URL":
        variable += " (or DATABASE_URL)"  # whichever of the two was set
    return f"{variable}: {message}"


def load_settings(*, host: str | None = None, port: int | None = None) -> SandboxSettings:
    """Settings from the environment, the command line's overrides, and the credentials
    file for the secrets the settings leave unset."""
    try:
        settings = SandboxSettings()
    except ValidationError as error:
        _fail(f"configuration error: {_describe(error)}")
    overrides = {name: value for name, value in (("host", host), ("port", port)) if value}
    try:
        return with_credentials(settings.model_copy(update=overrides))
    except (OSError, ValueError) as error:
        _fail(str(error))


def _ignore_reraised_signals() -> None:
    """uvicorn drains on SIGINT/SIGTERM, restores the previous handlers and re-raises the
    signal; with no-op handlers in place that does nothing, and the process exits 0.
    (The same as `mercato.server`, which the sandbox may not import.)"""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default SANDBOX_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default SANDBOX_PORT, 8002).")
    ] = None,
) -> None:
    """Serve the sandbox's API until SIGINT/SIGTERM."""
    configure_logging(LogSettings())
    settings = load_settings(host=host, port=port)
    try:
        application = create_sandbox_app(settings)
    except ValueError as error:
        _fail(str(error))
    assert settings.database_url is not None
    database = redact_url(settings.database_url.get_secret_value())
    typer.echo(f"sandbox: {settings.base_url} (database {database})", err=True)
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,
        server_header=False,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = uvicorn.Server(config)
    _ignore_reraised_signals()
    server.run()
    if not server.started:
        _fail("did not start (see the log above)", EXIT_STARTUP)


if __name__ == "__main__":
    app()
