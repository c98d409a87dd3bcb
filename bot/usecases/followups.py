"""Reports about a known incident (domain rules §3): follow-ups (续报), numbered 1, 2, 3…, and the final
report (终报). Each starts from the incident's last figures; a figure that goes down needs a correction
note (the forms' rule); the duty groups see what changed. A follow-up meets the follow-up deadline and
starts the next (every 12 h for 重大 and above, else 24 h); the final report closes the incident (its
other deadlines are cancelled) and starts the evaluation report's clock where the table asks for one.
Duty staff mark an incident handled (the final report is then due); a duty leader may reopen a closed one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.domain.access import Action
from bot.domain.clocks import Due, Trigger
from bot.domain.facts import ReportFacts, figure_changes, updated
from bot.domain.grading import GRADE_ORDER, suggest_grade
from bot.domain.roles import Role
from bot.domain.text import N_
from bot.usecases.common import Card, Config, Member, Refused, attachment_rows, incident_card, may
from bot.usecases.deadlines import cancel, meet, start_clocks
from bot.usecases.reports import Filed, ReceiptPlace, already_filed, place_receipt, plan_alerts
from storage.models import Incident, Report
from storage.repositories import Repos

OPEN_LIST_MAX = 10


@dataclass(frozen=True)
class OpenIncident:
    """An incident a follow-up may be written about, as a picker shows it."""

    id: int
    number: str
    occurred_at: datetime
    category: str
    subtype: str | None


@dataclass(frozen=True)
class FollowupStart:
    """What the follow-up form starts from: the incident and its last figures."""

    subject: dict[str, Any]
    figures: dict[str, Any]


async def may_write_about(repos: Repos, user: Member, incident: Incident) -> bool:
    """The reporter, or reporters and duty staff of the incident's unit or a unit above it."""
    return await may(repos, user, Action.INCIDENT_WRITE, unit_id=incident.unit_id, owner_id=incident.reporter_id)


async def open_incidents(repos: Repos, user: Member) -> list[OpenIncident]:
    """The open incidents a user may follow up, most recent first."""
    rows = await repos.incidents.open_for(user.id, user.unit_id, OPEN_LIST_MAX)
    return [OpenIncident(i.id, i.number, i.occurred_at, i.category, i.subtype) for i in rows]


async def start_followup(repos: Repos, user: Member, incident_id: int, kind: str = "followup") -> FollowupStart:
    """Where the follow-up (or final report) form starts; Refused when it cannot."""
    incident = await repos.incidents.get(incident_id)
    if incident is None or not await may_write_about(repos, user, incident):
        raise Refused(N_("followup.not_yours"))
    if incident.status == "closed":
        raise Refused(N_("followup.closed"))
    seq = await repos.incidents.count_reports(incident.id, "followup") + 1 if kind == "followup" else 0
    subject = {"incident": incident.id, "number": incident.number, "seq": seq}
    return FollowupStart(subject, incident.facts().figures())


def _more_severe(a: str, b: str) -> bool:
    ranked = [g.value for g in GRADE_ORDER]
    return a in ranked and (b not in ranked or ranked.index(a) < ranked.index(b))


async def submit_followup(
    repos: Repos,
    user: Member,
    draft: Mapping[str, Any],
    extras: Mapping[str, Mapping[str, Any]],
    config: Config,
    receipt: ReceiptPlace | None = None,
) -> Filed:
    """Store the follow-up once (idempotent on the draft token), update the incident's figures, meet the
    deadline it answers and start the next, and plan the duty-group alerts with what changed."""
    return await _file_later(repos, user, draft, config, "followup", receipt)


async def submit_final(
    repos: Repos,
    user: Member,
    draft: Mapping[str, Any],
    extras: Mapping[str, Mapping[str, Any]],
    config: Config,
    receipt: ReceiptPlace | None = None,
) -> Filed:
    """Store the final report once, close the incident, meet the final deadline and cancel the others, start
    the evaluation report's clock where the table asks for one, and alert the duty groups."""
    return await _file_later(repos, user, draft, config, "final", receipt)


async def _file_later(
    repos: Repos, user: Member, draft: Mapping[str, Any], config: Config, kind: str, receipt: ReceiptPlace | None
) -> Filed:
    token = draft["token"]
    done = await already_filed(repos, user, token)
    if done is not None:
        return done
    now = config.clock()
    answers = draft["answers"]
    subject = draft.get("subject") or {}
    incident = await repos.incidents.get_for_update(int(subject.get("incident", 0)))
    if incident is None or not await may_write_about(repos, user, incident):  # (rights may change mid-form)
        raise Refused(N_("followup.not_yours"))
    before, reported = incident.facts(), ReportFacts.from_answers(answers)
    changes = figure_changes(before, reported)
    seq = await repos.incidents.count_reports(incident.id, "followup") + 1 if kind == "followup" else 0
    try:
        async with repos.session.begin_nested():
            report = Report(
                incident_id=incident.id,
                kind=kind,
                seq=seq,
                draft_token=token,
                reporter_id=user.id,
                fields={**answers, "_changes": changes},
                started_at=datetime.fromisoformat(draft["started_at"]),
                submitted_at=now,
                received_at=now,
                unknown=reported.unknown(("casualties",)),
                late=False,
            )
            report.incomplete = bool(report.unknown)
            place_receipt(report, receipt)
            attachments = attachment_rows(answers)
            await repos.incidents.add_report(report, attachments)
    except IntegrityError:  # the same draft filed concurrently by another process: the first one wins
        done = await already_filed(repos, user, token)
        if done is None:
            raise
        return done
    now_known = updated(before, reported)
    incident.take_figures(now_known.known_casualties, now_known.loss_cny)
    actor = f"tg:{user.telegram_id}"
    suggested = suggest_grade(incident.category, incident.subtype, now_known.known_casualties, incident.loss_cny).value
    if suggested != incident.suggested_grade:
        incident.suggested_grade = suggested
    if _more_severe(suggested, incident.grade):  # figures that reach a higher grade raise it, never lower it
        await repos.audit.record(
            actor,
            "incident.regrade",
            "incident",
            incident.id,
            before={"grade": incident.grade},
            after={"grade": suggested, "by": kind},
        )
        incident.grade, incident.grade_reason = suggested, None
    dues = [Due.FOLLOWUP, Due.SUPPLEMENTARY] if kind == "followup" else [Due.FINAL]
    answered = await meet(repos, incident.id, dues, report.id, now, actor)
    report.due_at = answered.due_at if answered else None
    report.late = answered.late if answered else False
    if kind == "final":
        await cancel(repos, incident.id, None, now, actor, "closed by the final report")
        incident.status, incident.closed_at = "closed", now
        opened = await start_clocks(repos, incident, Trigger.CLOSED, now, user.id, config, now)
        incident.next_due_at = min((d.due_at for d in opened), default=None)
    elif incident.status == "open":
        opened = await start_clocks(repos, incident, Trigger.FOLLOWUP, now, user.id, config, now, seq=seq + 1)
        incident.next_due_at = min((d.due_at for d in opened), default=None)
    await repos.audit.record(
        actor,
        "report.submit",
        "incident",
        incident.id,
        after={
            "number": incident.number,
            "kind": kind,
            "seq": seq,
            "late": report.late,
            "changes": changes,
            "correction": answers.get("correction"),
        },
    )
    filed = Filed(
        created=True,
        number=incident.number,
        report_id=report.id,
        late=report.late,
        next_due_at=incident.next_due_at,
        initial_due_at=report.due_at,
        kind=kind,
        seq=seq,
        incident_id=incident.id,
    )
    await plan_alerts(repos, filed, incident, report, [(a.kind, a.file_id) for a in attachments], config)
    return filed


@dataclass(frozen=True)
class Handled:
    """Marking an incident handled: the outcome, the alert as it reads now, and the reporter to tell that
    the final report is due."""

    outcome: str  # ok | already | refused | unknown
    card: Card | None = None
    incident_id: int = 0
    number: str = ""
    final_due_at: datetime | None = None
    reporter: Member | None = None
    by: str = ""


async def mark_handled(repos: Repos, alert_id: int, user: Member | None, config: Config) -> Handled:
    """Duty staff of the alerted unit (or above) mark the incident handled: follow-ups are no longer due,
    the final report is (24 h by default)."""
    alert = await repos.alerts.alert(alert_id)
    if alert is None:
        return Handled("unknown")
    if user is None or not await may(repos, user, Action.INCIDENT_HANDLE, unit_id=alert.unit_id):
        return Handled("refused")
    incident = await repos.incidents.get_for_update(alert.incident_id)
    assert incident is not None
    if incident.status != "open":
        return Handled("already", await incident_card(repos, incident, alert.id), incident.id, incident.number)
    now, actor = config.clock(), f"tg:{user.telegram_id}"
    incident.status, incident.handled_at = "handled", now
    await cancel(repos, incident.id, [Due.FOLLOWUP], now, actor, "handled")
    opened = await start_clocks(repos, incident, Trigger.HANDLED, now, incident.reporter_id, config, now)
    incident.next_due_at = min((d.due_at for d in opened), default=None)
    await repos.audit.record(
        actor,
        "incident.handled",
        "incident",
        incident.id,
        after={
            "number": incident.number,
            "final_due_at": incident.next_due_at.isoformat() if incident.next_due_at else None,
        },
    )
    reporter = await repos.users.get(incident.reporter_id)
    return Handled(
        "ok",
        await incident_card(repos, incident, alert.id),
        incident.id,
        incident.number,
        incident.next_due_at,
        reporter if reporter and reporter.active else None,
        user.name,
    )


@dataclass(frozen=True)
class Reopened:
    number: str
    group_chat_id: int | None
    reason: str


async def reopen(repos: Repos, user: Member, number: str, reason: str, config: Config) -> Reopened:
    """A duty leader reopens a closed incident, with a reason that is kept; follow-ups are due again."""
    if not ({Role.DUTY_LEADER, Role.ADMIN} & user.roles):
        raise Refused(N_("reopen.refused"))
    incident = await repos.incidents.by_number(number.strip().upper())
    if incident is None or not await may(repos, user, Action.INCIDENT_REOPEN, unit_id=incident.unit_id):
        raise Refused(N_("reopen.unknown"))
    if incident.status != "closed":
        raise Refused(N_("reopen.not_closed"))
    reason = reason.strip()[:500]
    if not reason:
        raise Refused(N_("reopen.no_reason"))
    now, actor = config.clock(), f"tg:{user.telegram_id}"
    await cancel(repos, incident.id, None, now, actor, "reopened")
    incident.status, incident.closed_at, incident.handled_at = "open", None, None
    seq = await repos.incidents.count_reports(incident.id, "followup") + 1
    opened = await start_clocks(repos, incident, Trigger.FOLLOWUP, now, incident.reporter_id, config, now, seq=seq)
    incident.next_due_at = min((d.due_at for d in opened), default=None)
    await repos.audit.record(
        actor, "incident.reopen", "incident", incident.id, after={"number": incident.number, "reason": reason}
    )
    group = await repos.groups.for_unit(incident.unit_id)
    return Reopened(incident.number, group.chat_id if group else None, reason)
