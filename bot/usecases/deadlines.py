"""Deadlines as rows (domain rules §4): the use cases that file reports start clocks and meet them here, in
the same transaction as the report; the scheduler (bot/usecases/reminders.py) acts on them when due.

A row is business data (what was due, from whom, by when, met when, late or missed) and its own timer
(`next_at`: when its next reminder, escalation or 漏报 mark is due)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.domain import clocks
from bot.domain.clocks import Due, Facts, Trigger
from bot.usecases.common import Config
from storage.models import Deadline, Incident
from storage.repositories import Repos

# what inspections call the key elements of a report (domain rules §4: 漏报 of an element)


def facts_of(incident: Incident) -> Facts:
    return Facts(incident.grade, incident.category, incident.subtype, incident.occurred_at)


def as_domain(row: Deadline) -> clocks.Deadline:
    return clocks.Deadline(row.rule, Due(row.due), row.start_at, row.due_at)


def first_action_at(deadline: clocks.Deadline, policy: clocks.Policy, after: datetime | None = None) -> datetime | None:
    """When the scheduler should next look at a deadline (its first action after `after`)."""
    for action in clocks.plan(deadline, policy):
        if after is None or action.at > after:
            return action.at
    return None


async def open_deadline(
    repos: Repos,
    incident: Incident,
    deadline: clocks.Deadline,
    reporter_id: int,
    config: Config,
    now: datetime,
    seq: int = 0,
) -> Deadline | None:
    """Open one deadline, unless a report of that kind is already due from the incident (the earlier stands)."""
    if await repos.deadlines.open_of(incident.id, [deadline.due.value]):
        return None
    return await repos.deadlines.add(Deadline(**open_row(incident, deadline, reporter_id, config, now, seq)))


def open_row(
    incident: Incident, deadline: clocks.Deadline, reporter_id: int, config: Config, now: datetime, seq: int = 0
) -> dict[str, Any]:
    """An open deadline's row (every column but the id)."""
    return {
        "incident_id": incident.id,
        "unit_id": incident.unit_id,
        "reporter_id": reporter_id,
        "rule": deadline.rule,
        "due": deadline.due.value,
        "seq": seq,
        "start_at": deadline.start,
        "due_at": deadline.due_at,
        "state": "open",
        "late": False,
        "met_at": None,
        "report_id": None,
        "next_at": first_action_at(deadline, config.policy),
        "done_until": None,
        "created_at": now,
    }


async def start_clocks(
    repos: Repos,
    incident: Incident,
    trigger: Trigger,
    at: datetime,
    reporter_id: int,
    config: Config,
    now: datetime,
    seq: int = 0,
) -> list[Deadline]:
    """Open the deadlines an event makes due (the rules of this trigger whose conditions hold)."""
    opened = []
    for d in clocks.deadlines(trigger, at, facts_of(incident), config.policy, config.tz):
        row = await open_deadline(repos, incident, d, reporter_id, config, now, seq)
        if row is not None:
            opened.append(row)
    return opened


def met_row(
    incident: Incident, deadline: clocks.Deadline, reporter_id: int, report_id: int | None, at: datetime
) -> dict[str, Any]:
    """A deadline met by the very report that makes it known (the initial report of an event the bot hears of
    first through it): recorded for the timeliness statistics, nothing to remind. Its row (every column but the
    id; `report_id` None: set as it is written with the report, storage.filing)."""
    return {
        "incident_id": incident.id,
        "unit_id": incident.unit_id,
        "reporter_id": reporter_id,
        "rule": deadline.rule,
        "due": deadline.due.value,
        "seq": 0,
        "start_at": deadline.start,
        "due_at": deadline.due_at,
        "state": "met",
        "late": at > deadline.due_at,
        "met_at": at,
        "report_id": report_id,
        "next_at": None,
        "done_until": None,
        "created_at": at,
    }


async def meet(
    repos: Repos, incident_id: int, dues: Sequence[Due], report_id: int, at: datetime, actor: str
) -> Deadline | None:
    """A report was filed: the open deadlines it answers are met (their reminders stop with this
    transaction). Returns the earliest of them, whose due time the report is measured against."""
    rows = await repos.deadlines.open_of(incident_id, [d.value for d in dues])
    for row in rows:
        row.state, row.met_at, row.report_id, row.next_at = "met", at, report_id, None
        row.late = row.late or at > row.due_at
        await repos.audit.record(
            actor,
            "deadline.met",
            "deadline",
            row.id,
            after={"due": row.due, "due_at": row.due_at.isoformat(), "late": row.late, "report": report_id},
        )
    return rows[0] if rows else None


async def cancel(
    repos: Repos, incident_id: int, dues: Sequence[Due] | None, at: datetime, actor: str, reason: str
) -> int:
    """Deadlines that no longer apply (the incident closed, or a report made another one moot)."""
    rows = await repos.deadlines.open_of(incident_id, None if dues is None else [d.value for d in dues])
    for row in rows:
        row.state, row.next_at, row.met_at = "cancelled", None, at
        await repos.audit.record(actor, "deadline.cancel", "deadline", row.id, after={"due": row.due, "reason": reason})
    return len(rows)


# which form answers which report due (the reminders' buttons open it)
FORM_FOR_DUE: dict[str, str] = {
    "initial": "initial",
    "written": "initial",
    "followup": "followup",
    "supplementary": "followup",
    "final": "final",
}
