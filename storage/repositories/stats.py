"""Statistics and exports: grouped counts for /stats, and row streams for the exports (read in batches, never
the whole table in memory). Read-only; never commits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.stats import CountRow, DeadlineCounts
from storage.models import Deadline, Incident, Report, Unit, User
from storage.repositories.desk import ledger_query

STREAM_BATCH = 2000  # rows fetched per round trip when streaming an export


def _n(column: Any) -> Any:
    return func.coalesce(func.sum(func.coalesce(column, 0)), 0)


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _scoped(q: Any, unit_column: Any, unit_ids: Iterable[int] | None) -> Any:
    """The query limited to these units (None: every unit)."""
    return q if unit_ids is None else q.where(unit_column.in_(list(unit_ids)))


class StatsRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def counts(self, unit_ids: Iterable[int] | None, start: datetime, end: datetime) -> list[CountRow]:
        """Incidents that occurred in [start, end), grouped by category and grade, with the sums of their toll."""
        q = (
            select(
                Incident.category,
                Incident.grade,
                func.count(),
                _n(Incident.deaths),
                _n(Incident.missing),
                _n(Incident.serious_injuries),
                _n(Incident.injuries),
                _n(Incident.loss_cny),
            )
            .where(Incident.occurred_at >= start, Incident.occurred_at < end)
            .group_by(Incident.category, Incident.grade)
        )
        q = _scoped(q, Incident.unit_id, unit_ids)
        return [CountRow(str(r[0]), str(r[1]), *(int(v) for v in r[2:])) for r in (await self.s.execute(q)).all()]

    async def deadline_counts(
        self, unit_ids: Iterable[int] | None, start: datetime, end: datetime
    ) -> list[DeadlineCounts]:
        """Per unit: deadlines that fell due in [start, end) (cancelled ones left out), met on time, 漏报; and the
        reports received in [start, end), those with key elements unknown among them."""
        where = [Deadline.due_at >= start, Deadline.due_at < end, Deadline.state != "cancelled"]
        if unit_ids is not None:
            where.append(Deadline.unit_id.in_(list(unit_ids)))
        q = (
            select(
                Deadline.unit_id,
                func.count(),
                _count(and_(Deadline.state == "met", Deadline.late.is_(False))),
                _count(Deadline.state == "missed"),
            )
            .where(*where)
            .group_by(Deadline.unit_id)
        )
        found: dict[int, list[int]] = {}
        for unit_id, due, on_time, missed in (await self.s.execute(q)).all():
            found[int(unit_id)] = [int(due), int(on_time), int(due) - int(on_time) - int(missed), int(missed), 0, 0]
        r = (
            select(Incident.unit_id, func.count(), _count(Report.incomplete.is_(True)))
            .join(Incident, Incident.id == Report.incident_id)
            .where(Report.received_at >= start, Report.received_at < end)
            .group_by(Incident.unit_id)
        )
        r = _scoped(r, Incident.unit_id, unit_ids)
        for unit_id, reports, incomplete in (await self.s.execute(r)).all():
            row = found.setdefault(int(unit_id), [0, 0, 0, 0, 0, 0])
            row[4], row[5] = int(reports), int(incomplete)
        return [DeadlineCounts(u, *v) for u, v in sorted(found.items())]

    # ---- export streams ------------------------------------------------------------------------------
    async def _stream(self, q: Any) -> AsyncIterator[Any]:
        result = await self.s.stream(q.execution_options(yield_per=STREAM_BATCH))
        async for row in result:
            yield row

    def incidents(self, unit_ids: Iterable[int] | None, start: datetime, end: datetime) -> AsyncIterator[Any]:
        """Incidents that occurred in [start, end), oldest first, with their unit and reporter."""
        q = (
            select(Incident, Unit.name, User.name)
            .join(Unit, Unit.id == Incident.unit_id)
            .join(User, User.id == Incident.reporter_id)
            .where(Incident.occurred_at >= start, Incident.occurred_at < end)
            .order_by(Incident.occurred_at, Incident.id)
        )
        q = _scoped(q, Incident.unit_id, unit_ids)
        return self._stream(q)

    def reports(self, unit_ids: Iterable[int] | None, start: datetime, end: datetime) -> AsyncIterator[Any]:
        """Reports received in [start, end), oldest first: the report, its incident's number, unit, reporter."""
        q = (
            select(Report, Incident.number, Unit.name, User.name)
            .join(Incident, Incident.id == Report.incident_id)
            .join(Unit, Unit.id == Incident.unit_id)
            .join(User, User.id == Report.reporter_id)
            .where(Report.received_at >= start, Report.received_at < end)
            .order_by(Report.received_at, Report.id)
        )
        q = _scoped(q, Incident.unit_id, unit_ids)
        return self._stream(q)

    def deadlines(self, unit_ids: Iterable[int] | None, start: datetime, end: datetime) -> AsyncIterator[Any]:
        """Deadlines due in [start, end), in order: what was due, from whom, met when, late, missed."""
        q = (
            select(Deadline, Incident.number, Unit.name, User.name)
            .join(Incident, Incident.id == Deadline.incident_id)
            .join(Unit, Unit.id == Deadline.unit_id)
            .join(User, User.id == Deadline.reporter_id)
            .where(Deadline.due_at >= start, Deadline.due_at < end)
            .order_by(Deadline.due_at, Deadline.id)
        )
        q = _scoped(q, Deadline.unit_id, unit_ids)
        return self._stream(q)

    def ledger(self, unit_ids: Iterable[int] | None, start: datetime, end: datetime) -> AsyncIterator[Any]:
        """The duty ledger of [start, end) (storage.repositories.desk.ledger_query's rows), streamed."""
        return self._stream(ledger_query(unit_ids, start, end))

    async def by_subtype(self, unit_ids: Iterable[int] | None, start: datetime, end: datetime) -> list[Any]:
        """The half-year / annual table: per category and sub-type, incidents by grade and their toll."""
        graded = [_count(Incident.grade == g) for g in ("I", "II", "III", "IV")]
        q = (
            select(
                Incident.category,
                Incident.subtype,
                func.count(),
                *graded,
                _n(Incident.deaths),
                _n(Incident.missing),
                _n(Incident.serious_injuries),
                _n(Incident.injuries),
                _n(Incident.loss_cny),
            )
            .where(Incident.occurred_at >= start, Incident.occurred_at < end)
            .group_by(Incident.category, Incident.subtype)
        )
        q = _scoped(q, Incident.unit_id, unit_ids)
        return [tuple(r) for r in (await self.s.execute(q)).all()]
