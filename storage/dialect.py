"""What differs between the backends, in one place: the INSERT … ON CONFLICT construct, a list as one parameter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Dialect

from bot.domain import jsoncodec


def dialect_of(session: Any) -> Dialect:
    """The dialect of a session's (or connection's) engine."""
    bind = session.bind
    if bind is None:
        raise RuntimeError("the session is bound to no engine")
    dialect: Dialect = bind.dialect
    return dialect


def upsert_insert(bind: Any) -> Any:
    """The dialect's insert() with on_conflict_do_update/do_nothing, for an engine, a session, a dialect's name
    or None."""
    engine = getattr(bind, "bind", bind)
    name = engine if isinstance(engine, str) else getattr(getattr(engine, "dialect", None), "name", "sqlite")
    if name == "postgresql":  # imported where it is used: SQLite alone does not load PostgreSQL's dialect
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def one_of(column: Any, key: str, dialect_name: str) -> Any:
    """`column` IN a list given as one parameter, `key` (its value: one_of_value), in SQL that does not depend on
    the list's length. `IN (?, ?, …)` is new SQL for every length, and SQLite prepares each and its driver keeps up to
    128 of them per connection: the outbox's batched deletes filled that cache with statements of hundreds of
    parameters each (2.7 MB of SQLite's memory under load). SQLite: the list as JSON through json_each; PostgreSQL:
    `= ANY` an array."""
    from sqlalchemy import any_, bindparam, func, literal_column, select

    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(key, type_=ARRAY(column.type)))
    return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam(key))))


def one_of_value(values: Sequence[Any], dialect_name: str) -> Any:
    """The parameter one_of() takes for `values` on this backend."""
    return list(values) if dialect_name == "postgresql" else jsoncodec.dumps(list(values))
