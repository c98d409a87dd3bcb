"""What differs between the backends, in one place: the INSERT … ON CONFLICT construct."""

from __future__ import annotations

from typing import Any


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
