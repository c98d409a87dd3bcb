"""Writing new rows with Core statements on the session's driver (storage.driversql) instead of the ORM's flush:
the helpers the repositories and filing share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

from bot.domain.clock import utcnow
from storage import driversql
from storage.dialect import dialect_of, upsert_insert
from storage.models import (
    Alert,
    AlertPart,
    Attachment,
    AuditEntry,
    Deadline,
    Incident,
    Report,
)

# Rows changed after each delivery (and a receipt's place) by a plain UPDATE of the table: an ORM-enabled UPDATE costs
# several times more Python (its bulk machinery looks for the rows in the session); none of these rows is held in the
# session when they change (filing writes them with `insert_row`, the courier's transactions read nothing first).
ALERTS, PARTS, REPORTS, INCIDENTS = Alert.__table__, AlertPart.__table__, Report.__table__, Incident.__table__
AUDIT, DEADLINES, ATTACHMENTS = AuditEntry.__table__, Deadline.__table__, Attachment.__table__


@cache
def insert_rows(table: Any, keys: tuple[str, ...], n: int) -> Any:
    """An INSERT of `n` rows with the columns `keys` given in each (parameters `key_i`), built once."""
    return insert(table).values([{k: bindparam(f"{k}_{i}", type_=table.c[k].type) for k in keys} for i in range(n)])


async def insert_row(s: AsyncSession, obj: Any, unless: tuple[str, ...] = ()) -> bool:
    """Write a new ORM object's row with one Core INSERT … RETURNING and set what the database generated (the id,
    column defaults) on it, as a flush would. The ORM's flush costs about half a millisecond of Python a call, and
    filing a report took five. The object stays out of the session: for rows a transaction writes once and does not
    change again (read them back through the session to change them). `unless`: a unique key's columns; a row
    with the same key there already (or being written by another transaction that then commits) writes nothing
    and returns False (INSERT … ON CONFLICT DO NOTHING, no savepoint)."""
    statement, columns = insert_of(obj.__class__, dialect_of(s).name if unless else "", unless)
    values = {column.key: v for key, column in columns if (v := obj.__dict__.get(key)) is not None}
    rows = await driversql.run(s, statement, values)
    if not rows:
        return False
    row = rows[0]
    for (key, _column), value in zip(columns, row, strict=True):
        setattr(obj, key, value)
    return True


def row_columns(table: Any, *linked: str) -> tuple[str, ...]:
    """A table's columns but its id and those `linked` to a row written in the same statement."""
    return tuple(c.key for c in table.c if c.key != "id" and c.key not in linked)


def row_values(obj: Any, *linked: str) -> dict[str, Any]:
    """Every column of a new object's row (row_columns): its values, a column's Python default where it has none
    (set on the object too, as a flush would)."""
    _statement, columns = insert_of(obj.__class__)
    values: dict[str, Any] = {}
    for key, column in columns:
        if column.key == "id" or column.key in linked:
            continue
        value = obj.__dict__.get(key)
        if value is None and column.default is not None:
            value = column.default.arg if column.default.is_scalar else column.default.arg(None)
            setattr(obj, key, value)
        values[column.key] = value
    return values


@cache
def insert_of(model: Any, dialect: str = "", unless: tuple[str, ...] = ()) -> tuple[Any, list[tuple[str, Any]]]:
    """One INSERT … RETURNING statement per model (and key it may skip on), built once (its values come as
    parameters: the statement and its cache key are not built again for every row)."""
    mapper: Mapper[Any] = sa_inspect(model)
    table: Any = mapper.local_table
    columns = [(prop.key, prop.columns[0]) for prop in mapper.column_attrs]
    statement: Any = upsert_insert(dialect)(table) if unless else insert(table)
    if unless:
        statement = statement.on_conflict_do_nothing(index_elements=[table.c[k] for k in unless])
    return statement.returning(*(c for _, c in columns)), columns


@dataclass(frozen=True)
class AuditRow:
    """An audit entry written by a statement of its own (AuditRepo.record adds one to the session instead)."""

    actor: str
    action: str
    entity: str
    entity_id: str
    after: dict[str, Any]
    at: datetime = field(default_factory=utcnow)

    def values(self, after: dict[str, Any] | None) -> dict[str, Any]:
        row = {
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "entity": self.entity,
            "entity_id": self.entity_id,
        }
        return row if after is None else {**row, "after": after}
