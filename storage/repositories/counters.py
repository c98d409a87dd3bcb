"""Per-day counters (incident and warning numbers)."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from storage import driversql
from storage.dialect import dialect_of, upsert_insert
from storage.models import DailyCounter


@cache
def _next(dialect: str) -> Any:
    """The day's counter, taken (upsert … RETURNING), built once per backend."""
    return (
        upsert_insert(dialect)(DailyCounter)
        .values(day=bindparam("day"), value=1)
        .on_conflict_do_update(index_elements=[DailyCounter.day], set_={"value": DailyCounter.value + 1})
        .returning(DailyCounter.value)
    )


class CounterRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def next(self, key: str) -> int:
        """Atomically take the next number of a counter (its row stays locked until the transaction ends)."""
        return int((await driversql.run(self.s, _next(dialect_of(self.s).name), {"day": key}))[0][0])
