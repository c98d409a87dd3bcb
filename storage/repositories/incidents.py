"""Incidents, their reports, attachments, alerts and acknowledgements (a new incident is filed by
storage.filing)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Attachment,
    Incident,
    Report,
)
from storage.rows import REPORTS


class IncidentRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def report_by_token(self, reporter_id: int, token: str) -> Report | None:
        """The report a reporter filed from one draft (the draft token is the idempotency key)."""
        q = select(Report).where(Report.reporter_id == reporter_id, Report.draft_token == token)
        return await self.s.scalar(q)

    async def get(self, incident_id: int) -> Incident | None:
        return await self.s.get(Incident, incident_id)

    async def by_number(self, number: str) -> Incident | None:
        return await self.s.scalar(select(Incident).where(Incident.number == number).with_for_update())

    async def get_for_update(self, incident_id: int) -> Incident | None:
        """The incident, locked until the transaction ends (reports about it are numbered one at a time)."""
        q = select(Incident).where(Incident.id == incident_id).with_for_update()
        return await self.s.scalar(q.execution_options(populate_existing=True))

    async def open_for(self, user_id: int, unit_id: int, limit: int) -> Sequence[Incident]:
        """Incidents not closed that a person reported or their unit owns, most recent first."""
        q = (
            select(Incident)
            .where(Incident.status != "closed", (Incident.reporter_id == user_id) | (Incident.unit_id == unit_id))
            .order_by(Incident.occurred_at.desc(), Incident.id.desc())
            .limit(limit)
        )
        return (await self.s.scalars(q)).all()

    async def count_reports(self, incident_id: int, kind: str) -> int:
        q = select(func.count()).select_from(Report).where(Report.incident_id == incident_id, Report.kind == kind)
        return int(await self.s.scalar(q) or 0)

    async def add_report(self, report: Report, attachments: list[Attachment]) -> None:
        """A later report about a known incident, with its attachments."""
        self.s.add(report)
        await self.s.flush()
        for attachment in attachments:
            attachment.report_id = report.id
            self.s.add(attachment)
        await self.s.flush()

    async def reports(self, incident_id: int) -> Sequence[Report]:
        q = select(Report).where(Report.incident_id == incident_id).order_by(Report.id)
        return (await self.s.scalars(q)).all()

    async def attachments(self, report_id: int) -> Sequence[Attachment]:
        q = select(Attachment).where(Attachment.report_id == report_id).order_by(Attachment.position)
        return (await self.s.scalars(q)).all()

    async def report(self, report_id: int) -> Report | None:
        return await self.s.get(Report, report_id)

    async def set_receipt(self, report_id: int, chat_id: int, message_id: int | None, locale: str) -> None:
        await self.s.execute(
            update(REPORTS)
            .where(REPORTS.c.id == report_id)
            .values(receipt_chat_id=chat_id, receipt_message_id=message_id, receipt_locale=locale)
        )
