"""Moving a deployment's data from one database to another (`python -m bot migrate-data --from URL --to URL`): the
office started on the embedded SQLite default and grows into PostgreSQL. Every table, in the order their foreign keys
need, through SQLAlchemy's own types (times, JSON) on both sides, into a migrated, empty target; then PostgreSQL's id
sequences are set past the ids copied, and each table's rows are counted on both sides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import migrate
from storage.dialect import upsert_insert
from storage.models import Base

CHUNK = 1000
# rows the migrations write themselves (the people counter): the source's replace them
SEEDED = {"people_version"}
# what makes a target "not empty": any row here means it already holds a deployment
OCCUPIED = ("units", "users", "incidents", "warnings")


class TransferError(RuntimeError):
    """The move cannot be made (the target holds data, or a count differs after it)."""


async def transfer(source: AsyncEngine, target: AsyncEngine, say: Callable[[str], None] = print) -> dict[str, int]:
    """Copy every row of `source` into `target` (both migrated to head first); returns the rows copied per table."""
    await migrate(source)
    await migrate(target)
    async with target.connect() as conn:
        for name in OCCUPIED:
            if await conn.scalar(select(func.count()).select_from(Base.metadata.tables[name])):
                raise TransferError(f"the target already holds data ({name}): move into an empty database")
    copied: dict[str, int] = {}
    insert = upsert_insert(target)
    async with source.connect() as src, target.begin() as dst:
        for table in Base.metadata.sorted_tables:
            if table.name in SEEDED:
                await dst.execute(table.delete())
            count = 0
            result = await src.execute(select(table))
            for chunk in result.partitions(CHUNK):
                rows: list[dict[str, Any]] = [dict(row._mapping) for row in chunk]
                await dst.execute(insert(table).on_conflict_do_nothing(), rows)
                count += len(rows)
            copied[table.name] = count
        if target.dialect.name == "postgresql":
            for table in Base.metadata.sorted_tables:
                id_column = table.c.get("id")
                if id_column is not None and id_column.autoincrement is not False and table.name not in SEEDED:
                    await dst.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"coalesce((SELECT max(id) FROM {table.name}), 1), "
                            f"(SELECT max(id) FROM {table.name}) IS NOT NULL)"
                        )
                    )
    async with target.connect() as conn:
        for table in Base.metadata.sorted_tables:
            found = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            if found != copied[table.name]:
                raise TransferError(f"{table.name}: {copied[table.name]} rows copied, {found} in the target")
            say(f"{table.name}: {found}")
    return copied
