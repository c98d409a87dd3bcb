"""Core statements run on the session's driver connection (sqlite3 or asyncpg), past SQLAlchemy's execution.

Filing a report writes about ten rows; through the ORM session each statement cost 0.3 to 0.5 ms of Python
(session, statement cache look-up, execution context, result objects, a greenlet switch) around a statement that
SQLite runs in tens of microseconds, which made the submit the slowest step of the form under load. Here a
statement is compiled by SQLAlchemy once per dialect (and set of values given), and each run only fills in its
parameters, through the same bind processors and column defaults SQLAlchemy applies, and reads RETURNING rows through
the same result processors: the rows are the ones SQLAlchemy would have written and read (the filing tests read
them back through the ORM on both databases). It runs in the session's transaction: on PostgreSQL the transaction
SQLAlchemy's asyncpg adapter opens lazily is opened first if it is not yet.

What it does not do: expanding IN parameters, executemany, SQLAlchemy's exception wrapping (a driver's error
propagates as the driver's: these statements' callers catch none). Pending ORM changes are flushed first, as the
session's autoflush would. As in SQLAlchemy's own execution, a parameter named like a column of a table the
statement (or one of its CTEs) UPDATEs or INSERTs without explicit values becomes a value to SET there: name the
parameters otherwise, and give each statement only its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import SelectBase

from storage.dialect import dialect_of

# by statement object: only statements built once (module constants, functools.cache) run here; the bound is a
# guard against a caller that builds one per call
_PREPARED: dict[tuple[Any, Any, tuple[str, ...]], _Prepared] = {}
_PREPARED_MAX = 512


class _Prepared:
    """A statement compiled for one dialect and one set of parameter names."""

    __slots__ = ("binds", "compiled", "order", "prefetch", "results", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: tuple[str, ...]) -> None:
        compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
        if compiled.positiontup is None or any(b.expanding for b in compiled.binds.values()):
            raise ValueError("only positional, non-expanding statements run on the driver")
        self.compiled = compiled
        self.sql: str = compiled.string
        self.order: list[str] = list(compiled.positiontup)
        self.binds = [_processor(compiled.binds[name].type, dialect, bind=True) for name in self.order]
        self.results = [_processor(column.type, dialect) for column in _returned(statement)]
        # columns whose Python-side default (or onupdate) SQLAlchemy computes before running an INSERT (UPDATE); their
        # parameter is named by the column's key (the statements run here write one table)
        defaults = list(compiled.insert_prefetch or ()) or list(compiled.update_prefetch or ())
        on_update = not compiled.insert_prefetch
        self.prefetch = [(c.key, c.onupdate if on_update else c.default) for c in defaults]
        if any(key not in compiled.binds for key, _default in self.prefetch):
            raise ValueError("a default's parameter is not named by its column's key")

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        params = self.compiled.construct_params(values)
        for key, default in self.prefetch:
            if key not in values:
                params[key] = default.arg(None) if default.is_callable else default.arg
        out = []
        for name, process in zip(self.order, self.binds, strict=True):
            value = params[name]
            out.append(value if process is None or value is None else process(value))
        return out

    def rows(self, raw: list[Any]) -> list[tuple[Any, ...]]:
        results = self.results
        if not any(results):
            return [tuple(r) for r in raw]
        return [tuple(v if p is None else p(v) for p, v in zip(results, r, strict=True)) for r in raw]


def _returned(statement: ClauseElement) -> list[Any]:
    """The columns a statement returns, in order (SELECT, or INSERT/UPDATE … RETURNING); none for the rest."""
    if isinstance(statement, SelectBase):
        return list(statement.selected_columns)
    if isinstance(statement, UpdateBase):
        return list(statement.exported_columns)
    return []


def _processor(type_: Any, dialect: Dialect, bind: bool = False) -> Any:
    """The dialect's bind or result processor of a type, as SQLAlchemy's execution applies it. A numeric type's
    result processor on PostgreSQL asks which type the server sends (its OID, which asyncpg's records do not carry):
    the driver already hands back the Python value of the column's own type (a float for a float column), so none is
    needed."""
    impl = type_.dialect_impl(dialect)
    if bind:
        return impl.bind_processor(dialect)
    try:
        return impl.result_processor(dialect, None)
    except TypeError:
        return None


def _prepared(statement: ClauseElement, dialect: Dialect, keys: tuple[str, ...]) -> _Prepared:
    cache_key = (statement, (type(dialect), dialect.server_version_info), keys)
    found = _PREPARED.get(cache_key)
    if found is None:
        if len(_PREPARED) >= _PREPARED_MAX:
            _PREPARED.clear()
        found = _PREPARED[cache_key] = _Prepared(statement, dialect, keys)
    return found


async def fetch(
    driver: Any, statement: ClauseElement, dialect: Dialect, values: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """Run a Core statement on an asyncpg connection of one's own (not a session's: storage.intake's pool), its
    parameters and rows processed as `run` does; committed as it returns unless that connection is in a transaction."""
    prepared = _prepared(statement, dialect, tuple(sorted(values)))
    return prepared.rows(await driver.fetch(prepared.sql, *prepared.parameters(values)))


def _connection(sync: Session) -> Any:
    """The session's pooled connection (its transaction begun), after the autoflush a query would run."""
    if sync.autoflush:
        sync.flush()
    return sync.connection().connection


async def run(
    s: AsyncSession, statement: ClauseElement, values: Mapping[str, Any], alone: bool = False
) -> list[tuple[Any, ...]]:
    """Run a Core statement in the session's transaction on its driver connection; the rows it returns
    (RETURNING, SELECT), processed as SQLAlchemy would. `values`: the parameters (missing ones take the
    statement's own values or the columns' defaults). `alone`: the statement may stand on its own (the caller
    says so): a read, the transaction's only write, or a write complete and idempotent by itself (filing, keyed by
    its draft token); on PostgreSQL, when no transaction is open yet, it then runs on its own, committed as it
    returns, without the BEGIN and COMMIT round trips (in a transaction already open, it runs in that)."""
    dialect = dialect_of(s)
    prepared = _prepared(statement, dialect, tuple(sorted(values)))
    params = prepared.parameters(values)
    fairy = await s.run_sync(_connection)
    if dialect.name == "sqlite":
        cursor = fairy.driver_connection.execute(prepared.sql, params)
        return prepared.rows(cursor.fetchall()) if cursor.description else []
    adapter = fairy.dbapi_connection
    if adapter._transaction is None and adapter.isolation_level != "autocommit" and not alone:
        # SQLAlchemy's asyncpg adapter begins at its first statement, which this one bypasses: the one private part
        # of SQLAlchemy this module uses (no public call begins the adapter's transaction without a statement)
        await adapter._start_transaction()
    return prepared.rows(await adapter.driver_connection.fetch(prepared.sql, *params))
