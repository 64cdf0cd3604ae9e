"""Identity's commands: `createadmin`, `keys rotate`, `seed users`."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from mercato.platform.cli import CommandLine, fail

if TYPE_CHECKING:
    from mercato.identity.seed import SeedPlan


def register(cli: CommandLine) -> None:
    @cli.app.command()
    def createadmin(
        email: Annotated[str, typer.Option(help="The administrator's email address")],
    ) -> None:
        """Create an administrator; the password is read from stdin (or prompted for)."""
        from mercato.identity.addresses import InvalidEmail, normalise_email
        from mercato.identity.errors import WeakPassword
        from mercato.identity.registration import create_admin
        from mercato.identity.services import IdentityServices

        try:
            address = normalise_email(email)
        except InvalidEmail as error:
            fail(f"--email: {error}")
        if sys.stdin.isatty():
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\n")
        try:
            # The runtime's unit of work carries the commit listeners: a promoted account
            # loses its sessions, and the API processes' session cache hears of it.
            user_id = cli.run(
                lambda runtime: create_admin(
                    email=address,
                    password=password,
                    uow=runtime.unit_of_work(),
                    hasher=runtime.services(IdentityServices).hasher,
                )
            )
        except WeakPassword as error:
            fail("password: " + "; ".join(item["detail"] for item in error.errors))
        typer.echo(f"administrator {address} ready (id {user_id})")

    keys = cli.group("keys", "Access-token signing keys and field-encryption keys.")

    @keys.command("rotate")
    def keys_rotate(
        signing: Annotated[bool, typer.Option(help="Rotate the access-token signing keys")] = True,
        fields: Annotated[bool, typer.Option(help="Rotate the field-encryption keys")] = True,
    ) -> None:
        """Rotate key rings (then restart the API processes); queues field re-encryption."""
        from mercato.identity.keys import rotate_keys

        if not signing and not fields:
            fail("nothing to rotate: leave --signing or --fields on")
        rotated = cli.run(
            lambda runtime: rotate_keys(
                settings=runtime.settings,
                uow=runtime.unit_of_work(),
                signing=signing,
                fields=fields,
            )
        )
        for ring, kid in rotated.items():
            typer.echo(f"{ring} keys rotated: current key id {kid}")
        if fields:
            typer.echo("re-encryption of personal fields queued (runs in `mercato worker`)")

    seed = cli.group("seed", "Generated data for development and benchmarks.")

    @seed.command("users")
    def seed_users_command(
        count: Annotated[int, typer.Option(min=1, max=10_000_000, help="How many accounts")] = 1000,
        seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same users")] = 1,
        password: Annotated[
            str | None,
            typer.Option(help="The password every generated account gets (default: seed's)"),
        ] = None,
    ) -> None:
        """Load generated accounts (COPY, in batches) for development and benchmarks."""
        from mercato.identity.seed import SEEDED_PASSWORD, SeedPlan
        from mercato.platform.security.hashing import PasswordHasher

        settings = cli.reachable_settings()
        if settings.is_production:
            fail("refusing to seed generated accounts in production")
        assert settings.database.url is not None
        typer.echo(f"hashing the shared password once, then loading {count:,} accounts")
        hasher = PasswordHasher(workers=1)
        try:
            password_hash = asyncio.run(hasher.hash(password or SEEDED_PASSWORD))
        finally:
            hasher.close()
        plan = SeedPlan(count=count, seed=seed, password_hash=password_hash)
        started = time.monotonic()
        loaded = asyncio.run(_seed_users(settings.database.url.get_secret_value(), plan))
        elapsed = time.monotonic() - started
        typer.echo(f"{loaded:,} accounts loaded in {elapsed:.1f} s ({loaded / elapsed:,.0f}/s)")


async def _seed_users(url: str, plan: SeedPlan) -> int:
    import asyncpg
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mercato.identity.seed import seed_users
    from mercato.platform.jobs.runtime import libpq_url

    connection = await asyncpg.connect(libpq_url(url))
    try:
        with Progress(TextColumn("users"), BarColumn(), MofNCompleteColumn()) as progress:
            task = progress.add_task("users", total=plan.count)
            return await seed_users(
                connection, plan, progress=lambda done: progress.advance(task, done)
            )
    finally:
        await connection.close()
