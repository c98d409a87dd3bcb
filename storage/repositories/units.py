"""Units of the organisation tree."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import driversql
from storage.models import (
    DutyGroup,
    Unit,
)


@cache
def _unit_with_groups() -> Any:
    """A unit's columns, its duty group's and its parent unit's duty group's (none: NULLs), in one row."""
    units, groups = Unit.__table__, DutyGroup.__table__
    own, parent = groups.alias("own_group"), groups.alias("parent_group")
    return (
        select(*units.c, *own.c, *parent.c)
        .select_from(
            units.outerjoin(own, own.c.unit_id == units.c.id).outerjoin(parent, parent.c.unit_id == units.c.parent_id)
        )
        .where(units.c.id == bindparam("unit_id"))
    )


class UnitRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def by_code(self, code: str) -> Unit | None:
        return await self.s.scalar(select(Unit).where(Unit.code == code))

    async def get(self, unit_id: int) -> Unit | None:
        return await self.s.get(Unit, unit_id)

    async def with_duty_groups(self, unit_id: int) -> tuple[Unit, DutyGroup | None, DutyGroup | None] | None:
        """A unit, its duty group and its parent unit's duty group, in one statement (what filing alerts). Read-only
        copies, not in the session (a change to them is not written). A read on its own: it opens no transaction."""
        rows = await driversql.run(self.s, _unit_with_groups(), {"unit_id": unit_id}, alone=True)
        if not rows:
            return None
        unit_keys, group_keys = Unit.__table__.c.keys(), DutyGroup.__table__.c.keys()
        values, n = rows[0], len(unit_keys)
        own, parent = values[n : n + len(group_keys)], values[n + len(group_keys) :]
        key = group_keys.index("chat_id")  # the primary key: NULL when the outer join found no group
        return (
            Unit(**dict(zip(unit_keys, values[:n], strict=True))),
            None if own[key] is None else DutyGroup(**dict(zip(group_keys, own, strict=True))),
            None if parent[key] is None else DutyGroup(**dict(zip(group_keys, parent, strict=True))),
        )

    async def add(self, code: str, name: str, parent_id: int | None) -> Unit:
        unit = Unit(code=code, name=name, parent_id=parent_id)
        self.s.add(unit)
        await self.s.flush()
        return unit

    async def all(self) -> Sequence[Unit]:
        return (await self.s.scalars(select(Unit).order_by(Unit.code))).all()

    async def tree(self) -> list[tuple[int, int | None]]:
        """Every unit as (id, parent id): the tree, for bot.domain.units."""
        return [(int(r[0]), r[1]) for r in (await self.s.execute(select(Unit.id, Unit.parent_id))).all()]

    async def is_descendant(self, unit_id: int, ancestor_id: int) -> bool:
        """True when unit_id is ancestor_id itself or lies below it in the tree."""
        current: int | None = unit_id
        seen: set[int] = set()
        while current is not None and current not in seen:
            if current == ancestor_id:
                return True
            seen.add(current)
            current = await self.s.scalar(select(Unit.parent_id).where(Unit.id == current))
        return False
