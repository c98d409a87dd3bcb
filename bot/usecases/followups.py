"""Follow-up reports (续报, domain rules §3): numbered 1, 2, 3…, starting from the incident's last figures;
a figure that goes down needs a correction note (the form's rule); the duty groups see what changed. Filing
one meets the follow-up deadline and starts the next (every 12 h for 重大 and above, else 24 h)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.domain.clocks import Due, Trigger
from bot.domain.grading import GRADE_ORDER, Casualties, suggest_grade
from bot.domain.text import N_
from bot.usecases.common import Config, Member
from bot.usecases.deadlines import meet, start_clocks, unknown_elements
from bot.usecases.reports import Filed, already_filed, plan_alerts
from storage.models import Attachment, Incident, Report
from storage.repositories import Repos

# the incident's figures as the forms name them
FIGURES = {"deaths": "deaths", "missing": "missing", "serious": "serious_injuries", "injured": "injuries",
           "trapped": "trapped"}  # fmt: skip
OPEN_LIST_MAX = 10


@dataclass(frozen=True)
class OpenIncident:
    """An incident a follow-up may be written about, as a picker shows it."""

    id: int
    number: str
    occurred_at: datetime
    category: str
    subtype: str | None
    place: str | None
    next_seq: int


@dataclass(frozen=True)
class FollowupStart:
    """What the follow-up form starts from: the incident and its last figures."""

    subject: dict[str, Any]
    figures: dict[str, Any]


def figures_of(incident: Incident) -> dict[str, Any]:
    """The last reported casualty and loss figures, as the forms hold them."""
    loss = incident.loss_cny
    return {"casualties": {key: getattr(incident, column) for key, column in FIGURES.items()},
            **({"loss": loss} if loss is not None else {})}  # fmt: skip


async def may_write_about(repos: Repos, user: Member, incident: Incident) -> bool:
    """The reporter, or anyone of the incident's unit or a unit above it."""
    return incident.reporter_id == user.id or await repos.units.is_descendant(incident.unit_id, user.unit_id)


async def open_incidents(repos: Repos, user: Member) -> list[OpenIncident]:
    """The open incidents a user may follow up, most recent first."""
    rows = await repos.incidents.open_for(user.id, user.unit_id, OPEN_LIST_MAX)
    return [OpenIncident(i.id, i.number, i.occurred_at, i.category, i.subtype, i.place_text,
                         await repos.incidents.count_reports(i.id, "followup") + 1) for i in rows]  # fmt: skip


async def start_followup(repos: Repos, user: Member, incident_id: int) -> FollowupStart | str:
    """Where the follow-up form starts, or why it cannot (a catalog id)."""
    incident = await repos.incidents.get(incident_id)
    if incident is None or not await may_write_about(repos, user, incident):
        return N_("followup.not_yours")
    if incident.status == "closed":
        return N_("followup.closed")
    seq = await repos.incidents.count_reports(incident.id, "followup") + 1
    subject = {"incident": incident.id, "number": incident.number, "seq": seq}
    return FollowupStart(subject, figures_of(incident))


def _more_severe(a: str, b: str) -> bool:
    ranked = [g.value for g in GRADE_ORDER]
    return a in ranked and (b not in ranked or ranked.index(a) < ranked.index(b))


async def submit_followup(
    repos: Repos, user: Member, draft: Mapping[str, Any], extras: Mapping[str, Mapping[str, Any]], config: Config
) -> Filed:
    """Store the follow-up once (idempotent on the draft token), update the incident's figures, meet the
    deadline it answers and start the next, and plan the duty-group alerts with what changed."""
    token = draft["token"]
    done = await already_filed(repos, user, token)
    if done is not None:
        return done
    now = config.clock()
    answers = draft["answers"]
    subject = draft.get("subject") or {}
    incident = await repos.incidents.get_for_update(int(subject.get("incident", 0)))
    if incident is None:
        raise LookupError(f"follow-up of an unknown incident {subject!r}")
    before = figures_of(incident)
    casualties = answers.get("casualties") or {}
    loss = answers.get("loss") if isinstance(answers.get("loss"), int) else None
    changes = [[key, before["casualties"].get(key), casualties.get(key)] for key in FIGURES
               if casualties.get(key) != before["casualties"].get(key)]  # fmt: skip
    if loss is not None and loss != before.get("loss"):
        changes.append(["loss", before.get("loss"), loss])
    seq = await repos.incidents.count_reports(incident.id, "followup") + 1
    try:
        async with repos.session.begin_nested():
            report = Report(
                incident_id=incident.id, kind="followup", seq=seq, draft_token=token, reporter_id=user.id,
                fields={**answers, "_changes": changes}, started_at=datetime.fromisoformat(draft["started_at"]),
                submitted_at=now, received_at=now,
                unknown=unknown_elements(answers, ("casualties",)), late=False,
            )  # fmt: skip
            report.incomplete = bool(report.unknown)
            attachments = [
                Attachment(position=i, kind=a["kind"], file_id=a["file_id"], file_unique_id=a["file_unique_id"])
                for i, a in enumerate(answers.get("attachments") or [])
            ]
            await repos.incidents.add_report(report, attachments)
    except IntegrityError:  # the same draft filed concurrently by another process: the first one wins
        done = await already_filed(repos, user, token)
        if done is None:
            raise
        return done
    for key, column in FIGURES.items():
        if key in casualties:
            setattr(incident, column, casualties[key])
    if loss is not None:
        incident.loss_cny = loss
    actor = f"tg:{user.telegram_id}"
    suggested = suggest_grade(incident.category, incident.subtype, Casualties.from_mapping(casualties),
                              incident.loss_cny).value  # fmt: skip
    if suggested != incident.suggested_grade:
        incident.suggested_grade = suggested
    if _more_severe(suggested, incident.grade):  # figures that reach a higher grade raise it, never lower it
        await repos.audit.record(actor, "incident.regrade", "incident", incident.id, before={"grade": incident.grade},
                                 after={"grade": suggested, "by": "followup"})  # fmt: skip
        incident.grade, incident.grade_reason = suggested, None
    answered = await meet(repos, incident.id, [Due.FOLLOWUP, Due.SUPPLEMENTARY], report.id, now, actor)
    report.due_at = answered.due_at if answered else None
    report.late = answered.late if answered else False
    if incident.status == "open":
        opened = await start_clocks(repos, incident, Trigger.FOLLOWUP, now, user.id, config, now, seq=seq + 1)
        incident.next_due_at = min((d.due_at for d in opened), default=None)
    await repos.audit.record(actor, "report.submit", "incident", incident.id,
                             after={"number": incident.number, "kind": "followup", "seq": seq, "late": report.late,
                                    "changes": changes, "correction": answers.get("correction")})  # fmt: skip
    filed = Filed(created=True, number=incident.number, report_id=report.id, late=report.late,
                  next_due_at=incident.next_due_at, initial_due_at=report.due_at, kind="followup", seq=seq,
                  incident_id=incident.id)  # fmt: skip
    await plan_alerts(repos, filed, incident, report, [(a.kind, a.file_id) for a in attachments], config)
    return filed
