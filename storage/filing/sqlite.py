"""Filing a new incident on SQLite: a statement a row, on the driver (storage.rows), the number taken last."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import driversql
from storage.filing.numbers import incident_number
from storage.filing.plan import FilingPlan, link
from storage.repositories.alerts import AlertRepo
from storage.repositories.counters import CounterRepo
from storage.repositories.deadlines import DeadlineRepo
from storage.rows import AUDIT, INCIDENTS, insert_row

_AUDIT_INSERT = insert(AUDIT)
_SET_NUMBER = update(INCIDENTS).where(INCIDENTS.c.id == bindparam("incident_id")).values(number=bindparam("number"))


async def file(s: AsyncSession, plan: FilingPlan) -> str | None:
    """The incident (with a unique stand-in number until it is numbered), its report unless the draft token is taken
    (then the incident is deleted again and nothing is left), the attachments, deadlines, alerts and parts, then the
    number: the day's counter row stays locked from there to the commit (SQLite's one writer holds it anyway)."""
    incident, report = plan.incident, plan.report
    await insert_row(s, incident)
    report.incident_id = incident.id
    if not await insert_row(s, report, unless=("reporter_id", "draft_token")):
        await s.execute(delete(INCIDENTS).where(INCIDENTS.c.id == incident.id))
        return None
    link(plan)
    for attachment in plan.attachments:
        await insert_row(s, attachment)
    await DeadlineRepo(s).add_rows(plan.deadlines)
    await AlertRepo(s).add_alerts(plan.alerts)
    number = incident_number(plan.prefix, await CounterRepo(s).next(plan.day))
    await driversql.run(s, _SET_NUMBER, {"incident_id": incident.id, "number": number})
    audit = replace(plan.audit, entity_id=str(incident.id))
    await driversql.run(s, _AUDIT_INSERT, audit.values({**audit.after, "number": number}))
    incident.number = number
    return number
