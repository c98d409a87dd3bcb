"""The duty desk's reads: open incidents with their next deadline, overdue reports, an incident's timeline.
Read-only; never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.dialect import upsert_insert
from storage.models import (
    Acknowledgement,
    Alert,
    AuditEntry,
    DailySummary,
    Deadline,
    Incident,
    Report,
    Unit,
    User,
    Warning,
)


def ledger_query(unit_ids: Iterable[int] | None, start: datetime, end: datetime) -> Any:
    """The duty ledger (值班台账), for the chat and the export: every report received in [start, end), oldest
    first: id, received, kind, seq, 迟报, incident number and grade, unit, who filed it, and the first
    acknowledgement of its alerts (when, by whom)."""
    first = (
        select(Alert.report_id.label("report_id"), func.min(Acknowledgement.id).label("ack_id"))
        .join(Acknowledgement, Acknowledgement.alert_id == Alert.id)
        .join(Report, Report.id == Alert.report_id)
        .where(Report.received_at >= start, Report.received_at < end)
        .group_by(Alert.report_id)
        .subquery()
    )
    acker = aliased(User)
    q = (
        select(
            Report.id,
            Report.received_at,
            Report.kind,
            Report.seq,
            Report.late,
            Incident.number,
            Incident.grade,
            Unit.name,
            User.name,
            Acknowledgement.at,
            acker.name,
        )
        .join(Incident, Incident.id == Report.incident_id)
        .join(Unit, Unit.id == Incident.unit_id)
        .join(User, User.id == Report.reporter_id)
        .outerjoin(first, first.c.report_id == Report.id)
        .outerjoin(Acknowledgement, Acknowledgement.id == first.c.ack_id)
        .outerjoin(acker, acker.id == Acknowledgement.user_id)
        .where(Report.received_at >= start, Report.received_at < end)
        .order_by(Report.received_at, Report.id)
    )
    return q if unit_ids is None else q.where(Incident.unit_id.in_(list(unit_ids)))


GRADE_RANK = case({"I": 0, "II": 1, "III": 2, "IV": 3}, value=Incident.grade, else_=4)


class DeskRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    def _scope(self, q: Any, unit_ids: Iterable[int] | None, reporter_id: int | None) -> Any:
        if unit_ids is not None:
            q = q.where(Incident.unit_id.in_(list(unit_ids)))
        if reporter_id is not None:
            q = q.where(Incident.reporter_id == reporter_id)
        return q

    async def open_incidents(
        self, unit_ids: Iterable[int] | None, reporter_id: int | None, now: datetime, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """Open (or handled, not yet closed) incidents, most urgent first: overdue, then the nearest deadline,
        then the graver grade. Returns (how many in all, the page)."""
        unit_ids = None if unit_ids is None else list(unit_ids)
        nd = (
            select(Deadline.incident_id, func.min(Deadline.due_at).label("next_due"))
            .where(Deadline.state == "open")
            .group_by(Deadline.incident_id)
            .subquery()
        )
        base = self._scope(select(Incident.id).where(Incident.status != "closed"), unit_ids, reporter_id)
        total = int(await self.s.scalar(select(func.count()).select_from(base.subquery())) or 0)
        overdue = case((nd.c.next_due < now, 0), else_=1)
        q = (
            select(
                Incident.id,
                Incident.number,
                Incident.grade,
                Incident.category,
                Incident.subtype,
                Incident.place_text,
                Incident.occurred_at,
                Incident.created_at,
                Incident.status,
                Unit.name,
                nd.c.next_due,
            )
            .join(Unit, Unit.id == Incident.unit_id)
            .outerjoin(nd, nd.c.incident_id == Incident.id)
            .where(Incident.status != "closed")
            .order_by(overdue, nd.c.next_due.is_(None), nd.c.next_due, GRADE_RANK, Incident.id.desc())
            .limit(limit)
            .offset(offset)
        )
        rows = (await self.s.execute(self._scope(q, unit_ids, reporter_id))).all()
        keys = (
            "id",
            "number",
            "grade",
            "category",
            "subtype",
            "place",
            "occurred_at",
            "created_at",
            "status",
            "unit",
            "next_due",
        )
        return total, [dict(zip(keys, r, strict=True)) for r in rows]

    async def overdue(
        self, unit_ids: Iterable[int] | None, reporter_id: int | None, now: datetime, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """Open deadlines past due, oldest first: which report, of which incident, from whom."""
        unit_ids = None if unit_ids is None else list(unit_ids)
        where = [Deadline.state == "open", Deadline.due_at < now]
        if unit_ids is not None:
            where.append(Deadline.unit_id.in_(unit_ids))
        if reporter_id is not None:
            where.append(Deadline.reporter_id == reporter_id)
        total = int(await self.s.scalar(select(func.count()).select_from(Deadline).where(*where)) or 0)
        q = (
            select(
                Deadline.id,
                Deadline.due,
                Deadline.seq,
                Deadline.due_at,
                Incident.number,
                Incident.id,
                User.name,
                Unit.name,
            )
            .join(Incident, Incident.id == Deadline.incident_id)
            .join(User, User.id == Deadline.reporter_id)
            .join(Unit, Unit.id == Deadline.unit_id)
            .where(*where)
            .order_by(Deadline.due_at, Deadline.id)
            .limit(limit)
            .offset(offset)
        )
        keys = ("id", "due", "seq", "due_at", "number", "incident_id", "reporter", "unit")
        return total, [dict(zip(keys, r, strict=True)) for r in (await self.s.execute(q)).all()]

    async def reports_of(self, incident_id: int) -> list[tuple[Report, str]]:
        q = (
            select(Report, User.name)
            .join(User, User.id == Report.reporter_id)
            .where(Report.incident_id == incident_id)
            .order_by(Report.submitted_at, Report.id)
        )
        return [(r, str(n)) for r, n in (await self.s.execute(q)).all()]

    async def acknowledgements_of(self, incident_id: int) -> list[tuple[datetime, str, str]]:
        q = (
            select(Acknowledgement.at, User.name, Unit.name)
            .join(Alert, Alert.id == Acknowledgement.alert_id)
            .join(User, User.id == Acknowledgement.user_id)
            .join(Unit, Unit.id == Alert.unit_id)
            .where(Alert.incident_id == incident_id)
            .order_by(Acknowledgement.at)
        )
        return [(r[0], str(r[1]), str(r[2])) for r in (await self.s.execute(q)).all()]

    async def audit_of(
        self, incident_id: int, deadline_ids: Sequence[int], alert_ids: Sequence[int]
    ) -> list[AuditEntry]:
        """Reminders, escalations, 迟报 and 漏报, handling and reopening of one incident, in order."""
        conds = [and_(AuditEntry.entity == "incident", AuditEntry.entity_id == str(incident_id))]
        if deadline_ids:
            conds.append(
                and_(AuditEntry.entity == "deadline", AuditEntry.entity_id.in_([str(i) for i in deadline_ids]))
            )
        if alert_ids:
            conds.append(and_(AuditEntry.entity == "alert", AuditEntry.entity_id.in_([str(i) for i in alert_ids])))
        q = select(AuditEntry).where(or_(*conds)).order_by(AuditEntry.at, AuditEntry.id)
        return list((await self.s.scalars(q)).all())

    async def alert_ids(self, incident_id: int) -> list[int]:
        return [int(i) for i in (await self.s.scalars(select(Alert.id).where(Alert.incident_id == incident_id))).all()]

    async def ledger(
        self, unit_ids: Iterable[int] | None, start: datetime, end: datetime, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Every report received in [start, end), oldest first, with its first acknowledgement."""
        keys = ("id", "received_at", "kind", "seq", "late", "number", "grade", "unit", "reporter", "ack_at", "ack_by")
        rows = (await self.s.execute(ledger_query(unit_ids, start, end).limit(limit))).all()
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def due_between(
        self, unit_ids: Iterable[int], start: datetime, end: datetime, limit: int = 10
    ) -> tuple[int, list[dict[str, Any]]]:
        """Open deadlines falling due in [start, end): what the next shift must see filed."""
        where = [
            Deadline.state == "open",
            Deadline.due_at >= start,
            Deadline.due_at < end,
            Deadline.unit_id.in_(list(unit_ids)),
        ]
        total = int(await self.s.scalar(select(func.count()).select_from(Deadline).where(*where)) or 0)
        q = (
            select(Deadline.due, Deadline.seq, Deadline.due_at, Incident.number, User.name)
            .join(Incident, Incident.id == Deadline.incident_id)
            .join(User, User.id == Deadline.reporter_id)
            .where(*where)
            .order_by(Deadline.due_at)
            .limit(limit)
        )
        keys = ("due", "seq", "due_at", "number", "reporter")
        return total, [dict(zip(keys, r, strict=True)) for r in (await self.s.execute(q)).all()]

    async def unacknowledged(self, unit_ids: Iterable[int], limit: int = 10) -> tuple[int, list[str]]:
        """Delivered alerts of open incidents that nobody acknowledged: (how many, incident numbers)."""
        acked = select(Acknowledgement.alert_id)
        where = [
            Alert.unit_id.in_(list(unit_ids)),
            Alert.sent_at.is_not(None),
            Alert.id.not_in(acked),
            Incident.status != "closed",
        ]
        base = select(Alert.id).join(Incident, Incident.id == Alert.incident_id).where(*where)
        total = int(await self.s.scalar(select(func.count()).select_from(base.subquery())) or 0)
        q = (
            select(Incident.number)
            .join(Alert, Alert.incident_id == Incident.id)
            .where(*where)
            .distinct()
            .order_by(Incident.number)
            .limit(limit)
        )
        return total, [str(n) for n in (await self.s.scalars(q)).all()]

    async def day_figures(self, unit_ids: Iterable[int], start: datetime, end: datetime) -> dict[str, Any]:
        """What happened in [start, end) in these units: incidents registered (by grade), reports received,
        alerts delivered and how many of them were acknowledged, warnings issued."""
        ids = list(unit_ids)
        registered = (
            select(Incident.grade, func.count())
            .where(Incident.unit_id.in_(ids), Incident.created_at >= start, Incident.created_at < end)
            .group_by(Incident.grade)
        )
        by_grade = {str(g): int(n) for g, n in (await self.s.execute(registered)).all()}
        reports = await self.s.scalar(
            select(func.count())
            .select_from(Report)
            .join(Incident, Incident.id == Report.incident_id)
            .where(Incident.unit_id.in_(ids), Report.received_at >= start, Report.received_at < end)
        )
        acked = select(Acknowledgement.alert_id)
        sent = select(func.count(), func.coalesce(func.sum(case((Alert.id.in_(acked), 1), else_=0)), 0)).where(
            Alert.unit_id.in_(ids), Alert.sent_at >= start, Alert.sent_at < end
        )
        alerts, acknowledged = (await self.s.execute(sent)).one()
        issued = await self.s.scalar(
            select(func.count())
            .select_from(Warning)
            .where(Warning.msg_type == "alert", Warning.published_at >= start, Warning.published_at < end)
        )
        return {
            "new": sum(by_grade.values()),
            "by_grade": by_grade,
            "reports": int(reports or 0),
            "alerts": int(alerts or 0),
            "acknowledged": int(acknowledged or 0),
            "warnings": int(issued or 0),
        }

    async def claim_summary(self, day: str, groups: int, now: datetime) -> bool:
        """Record that the summary of `day` is being posted; False when another pass (or process) already did."""
        insert = upsert_insert(self.s)
        result = await self.s.execute(
            insert(DailySummary).values(day=day, groups=groups, sent_at=now).on_conflict_do_nothing()
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def summary_sent(self, day: str) -> bool:
        return await self.s.get(DailySummary, day) is not None
