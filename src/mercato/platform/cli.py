"""The command line's kernel: one `CommandLine` the modules add their commands to, and the
platform's own commands (`check`, `migrate`, `db`, `events`).

A command that needs the database asks `cli.run(body)`: the settings are loaded once,
the database is reached and its schema checked (or the command exits 2 with one line
saying why), and `body` gets a `Runtime` with every module started, so a write from the
command line retires caches and fires events exactly as one from the API does.

Importing this module must stay cheap: `mercato --help` imports it, so everything that
pulls in the web stack or SQLAlchemy is imported inside the commands.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar, NoReturn, TypeVar

import typer
from typer import _click as click
from typer.core import TyperCommand, TyperGroup

from mercato.platform.config import Environment, Settings, development_warnings, redact_url
from mercato.platform.failures import StartupError
from mercato.platform.module import Module

if TYPE_CHECKING:
    from mercato.platform.runtime import Runtime

T = TypeVar("T")
EXIT_CONFIG = 2


def fail(message: str) -> NoReturn:
    """One line per problem on stderr, exit 2: what the operator fixes (configuration,
    usage)."""
    for line in message.splitlines() or [""]:
        typer.echo(f"mercato: {line}", err=True)
    raise typer.Exit(EXIT_CONFIG)


@dataclass(frozen=True, slots=True)
class LazyGroup:
    """A command group imported only when it runs: `help` is what `--help` lists."""

    help: str
    load: Callable[[], click.Command]


class LazyGroups(TyperGroup):
    """A root command whose `lazy` groups (services of their own, with heavy imports) are
    listed by their help line and imported only when one of their commands runs."""

    lazy: ClassVar[Mapping[str, LazyGroup]] = {}
    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return names + [name for name in self.lazy if name not in names]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in self.lazy:
            return found
        group = self.lazy[cmd_name]
        if self._listing:
            return TyperCommand(cmd_name, help=group.help)
        return group.load()

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


class CommandLine:
    """The root `typer` app, its command groups, and what commands share."""

    def __init__(self, app: typer.Typer, modules: Sequence[Module]) -> None:
        self.app = app
        self.modules = tuple(modules)
        self._groups: dict[str, typer.Typer] = {}
        self._settings: Settings | None = None

    def group(self, name: str, help_text: str) -> typer.Typer:
        """The command group `mercato <name> …` (made on first use, shared by modules)."""
        if name not in self._groups:
            group = typer.Typer(help=help_text, no_args_is_help=True, add_completion=False)
            self.app.add_typer(group, name=name)
            self._groups[name] = group
        return self._groups[name]

    def settings(self) -> Settings:
        """The settings of this process (every module's section validated), and logging
        configured by them; exits 2 on a bad variable."""
        if self._settings is None:
            from mercato.platform.observability.logging import configure_logging
            from mercato.platform.settings_loading import load_settings

            try:
                self._settings = load_settings(self.modules)
            except StartupError as error:
                fail(str(error))
            development = self._settings.env is Environment.DEVELOPMENT
            configure_logging(self._settings.log, development=development)
        return self._settings

    def override(self, **values: object) -> Settings:
        """The settings with command-line options applied (`--host`, `--port`); None
        values leave the setting as configured."""
        settings = self.settings().model_copy(
            update={key: value for key, value in values.items() if value is not None}
        )
        self._settings = settings
        return settings

    def reachable_settings(self) -> Settings:
        """The settings with the database URL in use, after a successful round trip."""
        from mercato.platform.db.startup import check_database, database_url, with_database_url

        settings = self.settings()
        try:
            url = database_url(settings)
            check_database(settings)
        except StartupError as error:
            fail(str(error))
        return with_database_url(settings, url)

    def migrated_settings(self) -> Settings:
        """The reachable settings, once the schema is known to be this build's (exits 2
        with the command to run when it is empty or behind)."""
        from mercato.platform.db.startup import require_migrated

        settings = self.reachable_settings()
        try:
            require_migrated(settings)
        except StartupError as error:
            fail(str(error))
        return settings

    def run(self, body: Callable[[Runtime], Awaitable[T]]) -> T:
        """Run `body` with a runtime on the reachable database, every module started. A
        table missing on the way means a schema not migrated: one line says what to run
        (checked only then, so a command that needs no table works on any database)."""
        from mercato.platform.runtime import open_runtime

        settings = self.reachable_settings()

        async def main() -> T:
            async with open_runtime(settings, self.modules) as runtime:
                return await body(runtime)

        try:
            return asyncio.run(main())
        except Exception as error:
            if _missing_relation(error):
                self.migrated_settings()  # exits 2 with the advice when the schema is behind
            raise


# undefined_table, undefined_column, invalid_schema_name: what a schema behind the code says.
_SCHEMA_BEHIND = frozenset({"42P01", "42703", "3F000"})


def _missing_relation(error: BaseException | None) -> bool:
    """Whether a driver error (however wrapped) says a table, column or schema is missing."""
    seen = 0
    while error is not None and seen < 10:
        for candidate in (error, getattr(error, "orig", None)):
            if getattr(candidate, "sqlstate", None) in _SCHEMA_BEHIND:
                return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def register(cli: CommandLine) -> None:
    """The platform's commands: check, migrate, db, events."""

    @cli.app.command()
    def check() -> None:
        """Validate the configuration and reach the database; exit 2 with the reason if not.
        Development settings that look like a deployment are warned about."""
        from mercato.platform.db import migrations

        url = _database_url(cli.reachable_settings())
        current = asyncio.run(migrations.current_revision(url))
        head = migrations.head_revision()
        state = (
            "up to date" if current == head else f"at {current or 'base (empty)'}, head is {head}"
        )
        settings = cli.settings()
        typer.echo(
            f"ok: environment {settings.env.value}; database {redact_url(url)}; schema {state}"
        )
        for warning in development_warnings(settings):
            typer.echo(f"mercato: warning: {warning}", err=True)

    _register_migrate(cli)
    _register_db(cli)
    _register_events(cli)


def _database_url(settings: Settings) -> str:
    assert settings.database.url is not None
    return settings.database.url.get_secret_value()


def _register_migrate(cli: CommandLine) -> None:
    migrate = cli.group("migrate", "Apply or roll back database migrations.")

    @migrate.command("up")
    def migrate_up(revision: Annotated[str, typer.Argument()] = "head") -> None:
        """Upgrade the schema to REVISION (default: head)."""
        from alembic.util import CommandError

        from mercato.platform.db import migrations

        try:
            migrations.upgrade(_database_url(cli.reachable_settings()), revision)
        except CommandError as error:
            fail(f"migration: {error}")

    @migrate.command("down")
    def migrate_down(revision: Annotated[str, typer.Argument()] = "-1") -> None:
        """Downgrade the schema to REVISION (default: one step; `base` empties it)."""
        from alembic.util import CommandError

        from mercato.platform.db import migrations

        try:
            migrations.downgrade(_database_url(cli.reachable_settings()), revision)
        except CommandError as error:
            fail(f"migration: {error}")


def _register_db(cli: CommandLine) -> None:
    db = cli.group("db", "The embedded PostgreSQL server (used when DATABASE_URL is unset).")

    @db.command("start")
    def db_start() -> None:
        """Start the embedded PostgreSQL in the background and print its URL."""
        from mercato.platform.db.embedded import EmbeddedPostgresError
        from mercato.platform.db.startup import start_embedded_database

        try:
            _, url = start_embedded_database(cli.settings())
        except EmbeddedPostgresError as error:
            fail(f"embedded PostgreSQL: {error}")
        typer.echo(url)

    @db.command("stop")
    def db_stop() -> None:
        """Stop the embedded PostgreSQL (data is kept)."""
        from mercato.platform.db.embedded import EmbeddedPostgresError
        from mercato.platform.db.startup import embedded_server

        try:
            embedded_server(cli.settings()).stop()
        except EmbeddedPostgresError as error:
            fail(f"embedded PostgreSQL: {error}")

    @db.command("url")
    def db_url() -> None:
        """Print the URL of the running embedded PostgreSQL."""
        from mercato.platform.db.embedded import EmbeddedPostgresError
        from mercato.platform.db.startup import EMBEDDED_DATABASE, embedded_server

        try:
            typer.echo(embedded_server(cli.settings()).url(EMBEDDED_DATABASE))
        except EmbeddedPostgresError as error:
            fail(str(error))


def _register_events(cli: CommandLine) -> None:
    events = cli.group("events", "The event machinery: contracts, replay, dead letters.")

    @events.command("asyncapi")
    def events_asyncapi() -> None:
        """Print the AsyncAPI 3.0 document of every event contract (JSON)."""
        from mercato.platform.events.asyncapi import asyncapi_document
        from mercato.platform.runtime import event_catalog

        document = asyncapi_document(event_catalog(cli.modules))
        typer.echo(json.dumps(document, indent=2, sort_keys=True))

    @events.command("replay")
    def events_replay(
        consumer: Annotated[str, typer.Option(help="Consumer group to rewind")],
        since: Annotated[
            datetime.datetime,
            typer.Option("--from", help="Replay events created since (ISO 8601)"),
        ],
    ) -> None:
        """Deliver again, to one consumer group, every event created since a time."""
        start = since if since.tzinfo else since.replace(tzinfo=datetime.UTC)
        try:
            count = cli.run(lambda runtime: _replay(runtime, consumer=consumer, since=start))
        except LookupError as error:
            fail(str(error))
        typer.echo(
            f"{consumer}: rewound to {start.isoformat()}; {count} events will be redelivered"
        )

    @events.command("dead-letters")
    def events_dead_letters(
        consumer: Annotated[str | None, typer.Option(help="Only this consumer group")] = None,
        limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    ) -> None:
        """List the most recent dead-lettered events."""
        from mercato.platform.events import admin

        letters = cli.run(
            lambda runtime: admin.list_dead_letters(
                runtime.database, consumer=consumer, limit=limit
            )
        )
        if not letters:
            typer.echo("no dead letters")
        for letter in letters:
            typer.echo(
                f"{letter.id}\t{letter.created_at:%Y-%m-%d %H:%M:%S}\t{letter.consumer}\t"
                f"{letter.event_name}\t{letter.event_id}\tattempts={letter.attempts}\t"
                f"{letter.error}"
            )


async def _replay(runtime: Runtime, *, consumer: str, since: datetime.datetime) -> int:
    import nats

    from mercato.platform.events import admin

    database = runtime.database
    forgotten = await admin.forget_processed_since(database, consumer=consumer, since=since)
    if runtime.settings.events.transport == "postgres":
        return await admin.rewind_postgres_consumer(database, consumer=consumer, since=since)
    groups = {group.name: group for group in runtime.consumers().groups()}
    if consumer not in groups:
        raise LookupError(f"no consumer group named {consumer!r}")
    client = await nats.connect(runtime.settings.events.nats_url, connect_timeout=2)
    try:
        await admin.rewind_nats_consumer(
            client.jetstream(),
            consumer=consumer,
            domains=groups[consumer].domains(),
            partitions=runtime.settings.events.nats_partitions,
            since=since,
        )
    finally:
        await client.drain()
    return forgotten
