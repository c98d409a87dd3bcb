"""Duty shifts: stored from an imported roster, read for /duty, the shift-change notice and escalations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Handover, Shift


class RosterRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def replace(self, shifts: Sequence[Shift]) -> None:
        """Store shifts; one already there for the same unit, kind and start is replaced (a corrected roster)."""
        for shift in shifts:
            await self.s.execute(
                delete(Shift).where(
                    Shift.unit_id == shift.unit_id, Shift.kind == shift.kind, Shift.starts_at == shift.starts_at
                )
            )
        self.s.add_all(shifts)
        await self.s.flush()

    async def current_and_next(self, unit_ids: Iterable[int], now: datetime) -> list[Shift]:
        """For each unit: the shifts running now and the next ones to start."""
        ids = list(unit_ids)
        running = select(Shift).where(Shift.unit_id.in_(ids), Shift.starts_at <= now, Shift.ends_at > now)
        upcoming = (
            select(Shift.unit_id, Shift.kind, func.min(Shift.starts_at).label("start"))
            .where(Shift.unit_id.in_(ids), Shift.starts_at > now)
            .group_by(Shift.unit_id, Shift.kind)
            .subquery()
        )
        nxt = select(Shift).join(
            upcoming,
            (Shift.unit_id == upcoming.c.unit_id)
            & (Shift.kind == upcoming.c.kind)
            & (Shift.starts_at == upcoming.c.start),
        )
        rows = list((await self.s.scalars(running)).all()) + list((await self.s.scalars(nxt)).all())
        return sorted(rows, key=lambda s: (s.unit_id, s.starts_at, s.kind))

    async def running(self, unit_id: int, at: datetime) -> Sequence[Shift]:
        q = select(Shift).where(Shift.unit_id == unit_id, Shift.starts_at <= at, Shift.ends_at > at)
        return (await self.s.scalars(q.order_by(Shift.kind))).all()

    async def claim_changes(self, now: datetime, limit: int) -> Sequence[Shift]:
        """Shifts that have begun and whose duty group has not been told yet, locked (another scheduler skips)."""
        q = (
            select(Shift)
            .where(Shift.notify_at <= now)
            .order_by(Shift.notify_at, Shift.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def next_change_at(self) -> datetime | None:
        return await self.s.scalar(select(func.min(Shift.notify_at)))

    async def shift_near(self, unit_id: int, now: datetime) -> Shift | None:
        """The shift a handover now belongs to: the one of this unit ending nearest to now (from an hour ago
        to three hours ahead), the primary first."""
        q = (
            select(Shift)
            .where(
                Shift.unit_id == unit_id,
                Shift.ends_at >= now - timedelta(hours=1),
                Shift.ends_at <= now + timedelta(hours=3),
                Shift.starts_at <= now,
            )
            .order_by(Shift.kind, Shift.ends_at)
        )
        return (await self.s.scalars(q)).first()

    async def following(self, shift: Shift) -> Shift | None:
        q = (
            select(Shift)
            .where(Shift.unit_id == shift.unit_id, Shift.kind == shift.kind, Shift.starts_at >= shift.ends_at)
            .order_by(Shift.starts_at)
        )
        return (await self.s.scalars(q)).first()

    async def add_handover(self, handover: Handover) -> Handover:
        self.s.add(handover)
        await self.s.flush()
        return handover

    async def handover(self, handover_id: int) -> Handover | None:
        q = select(Handover).where(Handover.id == handover_id).with_for_update()
        return (await self.s.scalars(q.execution_options(populate_existing=True))).first()

    async def handed_over(self, shift_id: int) -> bool:
        return await self.s.scalar(select(Handover.id).where(Handover.shift_id == shift_id).limit(1)) is not None

    async def claim_checks(self, now: datetime, limit: int) -> Sequence[Shift]:
        """Shifts over (with their grace) whose handover has not been checked yet, locked."""
        q = (
            select(Shift)
            .where(Shift.check_at <= now)
            .order_by(Shift.check_at, Shift.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def next_check_at(self) -> datetime | None:
        return await self.s.scalar(select(func.min(Shift.check_at)))
