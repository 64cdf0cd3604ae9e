"""Migration histories and the revision a database is at, without importing Alembic.

A server checks at start-up that its schema is this build's (`db.startup.require_migrated`);
that check used Alembic's script directory and migration context, which brought Alembic,
Mako and Pygments (about 10 MiB) into every server process for good (docs/benchmarks.md,
"RSS per API process"). The revisions are read here from the scripts' own assignments
(`revision = "..."`, `down_revision = ...`), and the current one from `alembic_version`;
`migrations.py` (Alembic itself) applies them. A test holds both readings equal.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import mercato.migrations
from mercato.platform.config import normalise_database_url


@dataclass(frozen=True, slots=True)
class History:
    """A migration history: its scripts, the schema it manages (None: public), and the
    command that upgrades it (what a refusal to start tells the operator to run)."""

    location: Path
    schema: str | None = None
    upgrade_command: str = "mercato migrate up"


MAIN = History(Path(mercato.migrations.__file__).parent)


@dataclass(frozen=True, slots=True)
class Revisions:
    known: frozenset[str]
    heads: frozenset[str]


@cache
def revisions(location: Path) -> Revisions:
    """Every revision of the scripts under `location`/versions, and the heads (those no
    other revision comes after)."""
    known: set[str] = set()
    parents: set[str] = set()
    for script in sorted((location / "versions").glob("*.py")):
        assigned = _assignments(script)
        revision = assigned.get("revision")
        if not isinstance(revision, str):
            continue
        known.add(revision)
        down = assigned.get("down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(item for item in down if isinstance(item, str))
    return Revisions(frozenset(known), frozenset(known - parents))


def _assignments(script: Path) -> dict[str, object]:
    """The module-level `name = <literal>` (or `name: type = <literal>`) of a script."""
    found: dict[str, object] = {}
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return found


def head_revision(history: History = MAIN) -> str | None:
    """The one head of the history (None before its first script)."""
    heads = revisions(history.location).heads
    if len(heads) > 1:
        raise RuntimeError(f"{history.location} has several heads: {sorted(heads)}")
    return next(iter(heads), None)


def is_known_revision(revision: str, *, history: History = MAIN) -> bool:
    """Whether `revision` is one of this build's (a database migrated by a newer build
    is at a revision this one has never heard of)."""
    return revision in revisions(history.location).known


async def current_revision(database_url: str, *, history: History = MAIN) -> str | None:
    """The revision the database is at (None for an empty database)."""
    engine = create_async_engine(
        normalise_database_url(database_url),
        poolclass=NullPool,
        connect_args=search_path(history.schema),
    )
    try:
        async with engine.connect() as connection:
            # Found as the unqualified name is (the search path: the history's schema,
            # and that alone when it has one), as Alembic finds it.
            exists = await connection.scalar(
                text("SELECT to_regclass('alembic_version') IS NOT NULL")
            )
            if not exists:
                return None
            query = text("SELECT version_num FROM alembic_version")
            versions = (await connection.scalars(query)).all()
    finally:
        await engine.dispose()
    if len(versions) > 1:
        raise RuntimeError(f"the database is at several heads: {sorted(versions)}")
    return versions[0] if versions else None


def search_path(schema: str | None) -> dict[str, dict[str, str]]:
    """asyncpg connect arguments that put a service's schema first (none for public)."""
    return {"server_settings": {"search_path": schema}} if schema is not None else {}
