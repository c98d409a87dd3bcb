"""Reports due (the statutory clocks) and the scheduler's claims on them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import driversql
from storage.models import (
    Alert,
    Deadline,
)
from storage.rows import DEADLINES, insert_rows

_LATEST_OPEN = (
    select(Deadline.incident_id)
    .where(Deadline.reporter_id == bindparam("reporter"), Deadline.state == "open", Deadline.due == bindparam("kind"))
    .order_by(Deadline.due_at.desc(), Deadline.id.desc())
    .limit(1)
)


def wake_at(session: AsyncSession, at: datetime | None) -> None:
    """Remember the nearest timer this transaction set, so the scheduler can be woken once it commits."""
    if at is not None:
        known = session.info.get("wake_at")
        session.info["wake_at"] = at if known is None or at < known else known


class DeadlineRepo:
    """Reports due (statutory clocks) and the scheduler's claims on them."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(self, deadline: Deadline, flush: bool = True) -> Deadline:
        """Add a deadline (`flush=False`: written with the session's next flush, its id unknown until then)."""
        self.s.add(deadline)
        if flush:
            await self.s.flush()
        wake_at(self.s, deadline.next_at)
        return deadline

    async def add_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """New deadlines' rows (every column but the id, see bot.usecases.deadlines.open_row) in one statement; no
        ORM objects (nothing in the transaction reads them back or changes them)."""
        if not rows:
            return
        keys = tuple(rows[0])
        params = {f"{k}_{i}": row[k] for i, row in enumerate(rows) for k in keys}
        await driversql.run(self.s, insert_rows(DEADLINES, keys, len(rows)), params)
        for row in rows:
            wake_at(self.s, row["next_at"])

    async def open_of(self, incident_id: int, dues: Sequence[str] | None = None) -> Sequence[Deadline]:
        q = select(Deadline).where(Deadline.incident_id == incident_id, Deadline.state == "open")
        if dues is not None:
            q = q.where(Deadline.due.in_(dues))
        return (await self.s.scalars(q.order_by(Deadline.due_at, Deadline.id).with_for_update())).all()

    async def of_incident(self, incident_id: int) -> Sequence[Deadline]:
        q = select(Deadline).where(Deadline.incident_id == incident_id).order_by(Deadline.id)
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def open_for_reporter(self, reporter_id: int) -> Sequence[Deadline]:
        q = select(Deadline).where(Deadline.reporter_id == reporter_id, Deadline.state == "open")
        return (await self.s.scalars(q.order_by(Deadline.due_at, Deadline.id))).all()

    async def latest_open(self, reporter_id: int, due: str) -> int | None:
        """The incident of a reporter's open deadline of this kind due last (None: none open); one row read, on the
        driver and standing alone (`/report` asks it: on PostgreSQL no BEGIN and COMMIT around an update for it)."""
        rows = await driversql.run(self.s, _LATEST_OPEN, {"reporter": reporter_id, "kind": due}, alone=True)
        return int(rows[0][0]) if rows else None

    async def claim_due(self, now: datetime, limit: int) -> Sequence[Deadline]:
        """Deadlines with an action due, locked for this transaction: another scheduler (PostgreSQL) skips
        them, and sees them again only with their next action, after this one commits."""
        q = (
            select(Deadline)
            .where(Deadline.next_at <= now)
            .order_by(Deadline.next_at, Deadline.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def next_at(self) -> datetime | None:
        """When the nearest deadline action is due."""
        return await self.s.scalar(select(func.min(Deadline.next_at)))

    async def claim_unacknowledged(self, now: datetime, limit: int) -> Sequence[Alert]:
        """Delivered alerts nobody acknowledged whose next escalation step is due, locked like claim_due."""
        q = (
            select(Alert)
            .where(Alert.ack_due_at <= now)
            .order_by(Alert.ack_due_at, Alert.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def next_ack_at(self) -> datetime | None:
        return await self.s.scalar(select(func.min(Alert.ack_due_at)))
