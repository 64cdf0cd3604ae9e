"""The catalog's commands: `seed catalog`, `catalog import`, `catalog retire-cache`; and
the demo catalog `mercato run` loads on a first start."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mercato.platform.cli import CommandLine, fail

if TYPE_CHECKING:
    from mercato.catalog.importer import ImportReport
    from mercato.catalog.seed import CatalogPlan
    from mercato.platform.runtime import Runtime

DEMO_CATEGORIES = 40


def register(cli: CommandLine) -> None:
    seed = cli.group("seed", "Generated data for development and benchmarks.")

    @seed.command("catalog")
    def seed_catalog_command(
        products: Annotated[int, typer.Option(min=1, max=5_000_000)] = 200_000,
        categories: Annotated[int, typer.Option(min=1, max=100_000)] = 500,
        seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same catalog")] = 1,
    ) -> None:
        """Load a generated catalog (COPY, in batches): categories, products, stock."""
        from mercato.catalog.seed import CatalogPlan

        if cli.settings().is_production:
            fail("refusing to seed a generated catalog in production")
        plan = CatalogPlan(products=products, categories=categories, seed=seed)
        started = time.monotonic()
        loaded = cli.run(lambda runtime: seed_catalog(runtime, plan, show_progress=True))
        elapsed = time.monotonic() - started
        typer.echo(f"{loaded[0]:,} categories and {loaded[1]:,} products loaded in {elapsed:.1f} s")

    catalog = cli.group("catalog", "Catalog tooling: bulk import, cache retirement.")

    @catalog.command("import")
    def catalog_import(
        path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".csv or .jsonl")],
        batch: Annotated[
            int, typer.Option(min=1, max=50_000, help="Products per transaction")
        ] = 1000,
    ) -> None:
        """Import products; the file is validated whole first (errors by line, nothing
        written)."""
        from mercato.catalog.importer import ImportFailed

        try:
            report = cli.run(lambda runtime: _import(runtime, path, batch=batch))
        except ImportFailed as failure:
            for error in failure.report.errors:
                typer.echo(error, err=True)
            typer.echo(
                f"import failed: {failure.report.imported:,} of {failure.report.lines:,}"
                " products imported",
                err=True,
            )
            raise typer.Exit(1) from None
        typer.echo(f"{report.imported:,} products imported from {report.lines:,} lines")

    @catalog.command("retire-cache")
    def catalog_retire_cache() -> None:
        """Retire every cached catalog read: in Redis (entries and fast-path aliases), or
        without Redis in every running process (a PostgreSQL signal)."""
        cli.run(retire_cached_reads)
        typer.echo("catalog cache retired")


async def retire_cached_reads(runtime: Runtime) -> None:
    """Rows loaded by COPY bypass the use cases: retire what API processes cached (the
    shared Redis entries, or each process's own through `broadcast`)."""
    from mercato.catalog.services import CatalogServices

    await runtime.services(CatalogServices).cache.invalidate()


async def seed_catalog(
    runtime: Runtime, plan: CatalogPlan, *, show_progress: bool
) -> tuple[int, int]:
    """COPY a generated catalog; (categories, products) loaded."""
    import asyncpg
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mercato.catalog.seed import seed_catalog as copy_catalog
    from mercato.platform.jobs.runtime import libpq_url

    assert runtime.settings.database.url is not None
    url = runtime.settings.database.url.get_secret_value()
    connection = await asyncpg.connect(libpq_url(url))
    try:
        with Progress(
            TextColumn("products"),
            BarColumn(),
            MofNCompleteColumn(),
            disable=not show_progress,
        ) as progress:
            task = progress.add_task("products", total=plan.products)
            loaded = await copy_catalog(
                connection, plan, progress=lambda done: progress.advance(task, done)
            )
    finally:
        await connection.close()
    await retire_cached_reads(runtime)
    return loaded


async def demo_catalog(runtime: Runtime) -> str | None:
    """On a first start (an empty catalog), load a small demo catalog."""
    from sqlalchemy import select

    from mercato.catalog.config import CatalogSettings
    from mercato.catalog.models import Product
    from mercato.catalog.seed import CatalogPlan

    products = runtime.settings.section(CatalogSettings).demo_products
    if products == 0:
        return None
    async with runtime.database.read_session() as session:
        if await session.scalar(select(Product.id).limit(1)) is not None:
            return None
    plan = CatalogPlan(products=products, categories=DEMO_CATEGORIES, seed=1)
    loaded = (await seed_catalog(runtime, plan, show_progress=False))[1]
    return f"loaded a demo catalog of {loaded:,} products (first start)"


async def _import(runtime: Runtime, path: Path, *, batch: int) -> ImportReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mercato.catalog.importer import import_products

    with Progress(TextColumn("products"), BarColumn(), MofNCompleteColumn()) as progress:
        task = progress.add_task("products", total=None)
        return await import_products(
            path,
            runtime.database,
            unit_of_work=runtime.unit_of_work,
            batch=batch,
            progress=lambda done: progress.advance(task, done),
        )
