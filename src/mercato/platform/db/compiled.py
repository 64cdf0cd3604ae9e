"""Hot read statements, built and compiled once per shape, then run as the driver's SQL.

Building a SELECT out of ORM attributes and compiling it costs more CPU than PostgreSQL
spends answering it (measured on the catalog list: 5.6 ms a request through a session
against 0.9 ms for the same SQL on asyncpg; docs/benchmarks.md). A hot read therefore names
its *shape* (which filters, which sort, first page or not), builds the statement with
`bindparam`s only when that shape is new, and keeps the compiled text and the order of its
parameters. Each request then binds its values and sends the text on the pooled asyncpg
connection (`Database.read_rows`): SQLAlchemy's pool and error type (`DBAPIError`), without
building, compiling, result objects or a transaction around one statement.

Values are always parameters; the text never holds user input (parameterised queries only).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

MAX_SHAPES = 512


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """One statement's SQL text in the driver's parameter style and how to bind it."""

    sql: str
    # The bound names in the order of the text's positional parameters.
    names: tuple[str, ...]
    # What the statement binds by itself (its literals, `coalesce(x, 0)`'s 0) and the
    # defaults of named parameters.
    defaults: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]
    # Planned for its values on every execution: for statements whose best plan depends on
    # them (a LIKE pattern's selectivity), where PostgreSQL's generic plan, which it
    # switches to after five executions of a prepared statement, can be far slower.
    custom_plans: bool = False

    def arguments(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional arguments for `values` (by bound name); a missing name is a
        KeyError, never a silent NULL."""
        arguments = []
        for name in self.names:
            value = values[name] if name in values else self.defaults[name]
            processor = self.processors.get(name)
            arguments.append(processor(value) if processor is not None else value)
        return tuple(arguments)


def compile_query(
    statement: ClauseElement, dialect: Dialect, *, custom_plans: bool = False
) -> CompiledQuery:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)  # a statement, not DDL
    names = tuple(compiled.positiontup or ())
    processors: dict[str, Callable[[Any], Any]] = {}
    for name in names:
        bind_type = compiled.binds[name].type.dialect_impl(dialect)
        processor = bind_type.bind_processor(dialect)
        if processor is not None:
            processors[name] = processor
    defaults = {
        name: compiled.binds[name].value for name in names if not compiled.binds[name].required
    }
    return CompiledQuery(compiled.string, names, defaults, processors, custom_plans)


class QueryCache:
    """Compiled statements by shape, for one dialect; the least recently used go first."""

    def __init__(self, dialect: Dialect, *, max_entries: int = MAX_SHAPES) -> None:
        self._dialect = dialect
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, CompiledQuery] = OrderedDict()

    def get(
        self, shape: Hashable, build: Callable[[], ClauseElement], *, custom_plans: bool = False
    ) -> CompiledQuery:
        query = self._entries.get(shape)
        if query is None:
            query = compile_query(build(), self._dialect, custom_plans=custom_plans)
            self._entries[shape] = query
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(shape)
        return query
