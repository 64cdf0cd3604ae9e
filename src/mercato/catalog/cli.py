"""The catalog's commands: `seed catalog`, `catalog import`, `catalog retire-cache`; and
the demo catalog `mercato run` loads on a first start."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mercato.catalog.transfer.choices import FileFormat, ImportMode
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
        """Load a generated catalog (COPY, in batches): categories, products with options,
        1-12 variants, prices in several currencies, stock, images and tags; then
        VACUUM (ANALYZE)."""
        from mercato.catalog.seed import CatalogPlan

        if cli.settings().is_production:
            fail("refusing to seed a generated catalog in production")
        present = cli.run(_catalog_rows)
        if present:
            # A generated catalog's ids and slugs come from its seed: it cannot be laid
            # over another one.
            fail(
                f"the catalog is not empty ({present:,} categories and products): seed an"
                " empty database (`mercato migrate down base` then `up`), or add products"
                " with `mercato catalog import FILE --mode upsert`"
            )
        plan = CatalogPlan(products=products, categories=categories, seed=seed)
        started = time.monotonic()
        loaded = cli.run(lambda runtime: seed_catalog(runtime, plan, show_progress=True))
        elapsed = time.monotonic() - started
        typer.echo(
            f"{loaded[0]:,} categories, {loaded[1]:,} products and {loaded[2]:,} variants"
            f" loaded in {elapsed:.1f} s"
        )

    catalog = cli.group("catalog", "Catalog tooling: import, export, cache retirement.")

    @catalog.command("import")
    def catalog_import(
        path: Annotated[
            Path | None,
            typer.Argument(
                exists=True, dir_okay=False, help="Our .csv/.jsonl, or a Shopify product .csv"
            ),
        ] = None,
        template: Annotated[
            bool, typer.Option("--template", help="Print our CSV header (EUR prices) and exit")
        ] = False,
        mode: Annotated[
            ImportMode,
            typer.Option(help="create: new handles only; update: existing only; upsert: either"),
        ] = ImportMode.CREATE,
        file_format: Annotated[
            FileFormat | None,
            typer.Option("--format", help="default: found from the file's header"),
        ] = None,
        currency: Annotated[
            str | None,
            typer.Option(help="A Shopify export's store currency (ISO 4217, e.g. EUR)"),
        ] = None,
    ) -> None:
        """Import products with their options, variants, prices, stock, images and tags.
        All or nothing: the file is checked whole first (errors by line and column), then
        written in one transaction; VACUUM (ANALYZE) after."""
        from mercato.catalog.importer import ImportFailed
        from mercato.catalog.transfer.native import csv_header

        if template:
            typer.echo(",".join(csv_header(["EUR"])))
            return
        if path is None:
            fail("catalog import: give a FILE (or --template for our CSV header)")
        try:
            report = cli.run(
                lambda runtime: _import(
                    runtime, path, mode=mode, file_format=file_format, currency=currency
                )
            )
        except ImportFailed as failure:
            for error in failure.report.errors:
                typer.echo(str(error), err=True)
            hidden = failure.report.error_count - len(failure.report.errors)
            if hidden:
                typer.echo(f"… and {hidden:,} more", err=True)
            typer.echo(
                f"import failed: {failure.report.error_count:,} error(s); nothing imported",
                err=True,
            )
            raise typer.Exit(1) from None
        for note in report.notes[:20]:
            typer.echo(f"note: {note}")
        if report.ignored_columns:
            typer.echo(f"ignored columns: {', '.join(report.ignored_columns)}")
        typer.echo(
            f"{report.products:,} products ({report.variants:,} variants) imported:"
            f" {report.created:,} created, {report.updated:,} updated"
        )

    @catalog.command("export")
    def catalog_export(
        path: Annotated[Path, typer.Argument(dir_okay=False, help=".csv or .jsonl")],
        file_format: Annotated[
            FileFormat,
            typer.Option("--format", help="mercato (our CSV/JSONL) or shopify (product CSV)"),
        ] = FileFormat.MERCATO,
        currency: Annotated[
            str | None,
            typer.Option(help="shopify: the prices' currency (Shopify files have one)"),
        ] = None,
    ) -> None:
        """Export the catalog's live products (one line per variant)."""
        from mercato.platform.money import is_known_currency

        if path.suffix.lower() not in (".csv", ".jsonl"):
            fail("the file must end in .csv or .jsonl")
        if file_format is FileFormat.SHOPIFY and (
            path.suffix.lower() != ".csv" or currency is None or not is_known_currency(currency)
        ):
            fail("a Shopify export is a .csv with one currency: --currency EUR (ISO 4217)")
        written = cli.run(
            lambda runtime: _export(runtime, path, file_format=file_format, currency=currency)
        )
        typer.echo(f"{written[0]:,} products ({written[1]:,} lines) exported to {path}")

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


async def _catalog_rows(runtime: Runtime) -> int:
    """Categories and products, deleted ones included (their ids and slugs stay taken)."""
    from sqlalchemy import text

    async with runtime.database.session() as session:
        present = await session.scalar(
            text(
                "SELECT (SELECT count(*) FROM catalog_category)"
                " + (SELECT count(*) FROM catalog_product)"
            )
        )
    return int(present or 0)


async def seed_catalog(
    runtime: Runtime, plan: CatalogPlan, *, show_progress: bool
) -> tuple[int, int, int]:
    """COPY a generated catalog; (categories, products, variants) loaded."""
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


async def _import(
    runtime: Runtime,
    path: Path,
    *,
    mode: ImportMode,
    file_format: FileFormat | None,
    currency: str | None,
) -> ImportReport:
    from rich.progress import MofNCompleteColumn, Progress, TextColumn

    from mercato.catalog.config import CatalogSettings
    from mercato.catalog.importer import import_catalog

    media_base = runtime.settings.section(CatalogSettings).media_base_url
    with Progress(TextColumn("{task.description}"), MofNCompleteColumn()) as progress:
        tasks = {
            "read": progress.add_task("products read", total=None),
            "write": progress.add_task("products written", total=None),
        }
        report = await import_catalog(
            path,
            runtime.database,
            mode=mode,
            file_format=file_format,
            currency=currency,
            unit_of_work=runtime.unit_of_work,
            media_base=media_base,
            progress=lambda stage, done: progress.advance(tasks[stage], done),
        )
    await _vacuum_analyze(runtime)
    return report


async def _vacuum_analyze(runtime: Runtime) -> None:
    """Fresh planner statistics for what was loaded (on its own connection: VACUUM cannot
    run inside a transaction)."""
    import asyncpg

    from mercato.catalog.bulk import vacuum_analyze
    from mercato.platform.jobs.runtime import libpq_url

    assert runtime.settings.database.url is not None
    connection = await asyncpg.connect(libpq_url(runtime.settings.database.url.get_secret_value()))
    try:
        await vacuum_analyze(connection)
    finally:
        await connection.close()


async def _export(
    runtime: Runtime, path: Path, *, file_format: FileFormat, currency: str | None
) -> tuple[int, int]:
    """(products, lines) written; the file is written whole or not at all (a temporary
    file renamed at the end)."""
    from mercato.catalog.exporter import export_pages, price_currencies
    from mercato.catalog.transfer import native, shopify

    currencies = await price_currencies(runtime.database)
    products = lines = 0
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as file:
            async for page in export_pages(runtime.database):
                first = products == 0
                if file_format is FileFormat.SHOPIFY:
                    assert currency is not None
                    lines += shopify.write_products(page, file, currency=currency, header=first)
                elif path.suffix.lower() == ".jsonl":
                    lines += native.write_jsonl(page, file, currencies=currencies)
                else:
                    lines += native.write_csv(page, file, currencies=currencies, header=first)
                products += len(page)
            if products == 0 and path.suffix.lower() == ".csv":  # an empty catalog: the header
                if file_format is FileFormat.SHOPIFY:
                    shopify.write_products([], file, currency=currency or "EUR")
                else:
                    native.write_csv([], file, currencies=currencies)
    except BaseException:
        partial.unlink(missing_ok=True)  # no half-written file left behind
        raise
    partial.replace(path)
    return products, lines
