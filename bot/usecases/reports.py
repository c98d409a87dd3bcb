"""Filing the initial report and acknowledging its alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy.exc import IntegrityError

from bot.domain.access import Action
from bot.domain.clocks import Deadline, Due, Facts, Trigger, ack_steps, deadlines, occurrence_deadlines
from bot.domain.delivery import group_attachments, next_retry
from bot.domain.facts import ReportFacts
from bot.domain.grading import Grade, at_least
from bot.domain.text import N_
from bot.usecases.common import (
    AlertStatus,
    Card,
    Config,
    Delivery,
    Member,
    Refused,
    Say,
    attachment_rows,
    incident_card,
    may,
    planned_delivery,
    report_answers,
    unit_admins,
)
from bot.usecases.deadlines import facts_of, meet, met_row, open_row
from storage.filing import FilingPlan
from storage.models import Alert, AlertPart, DutyGroup, Incident, Report, Unit
from storage.repositories import AuditRow, Repos, wake_at


@dataclass
class Filed:
    """What filing a report did, for the receipt and the alerts."""

    created: bool
    number: str
    report_id: int = 0
    late: bool = False
    next_due_at: datetime | None = None
    next_due_hours: int = 0
    initial_due_at: datetime | None = None
    alert_ids: list[int] = field(default_factory=list)  # the duty-group alerts to deliver
    admins: list[tuple[Member, str]] = field(default_factory=list)  # (administrator, unit name): no duty group
    card: Card | None = None
    statuses: list[AlertStatus] = field(default_factory=list)  # what became of each duty-group alert
    kind: str = "initial"  # initial | flash | phone | followup | final
    seq: int = 0  # the follow-up's number
    incident_id: int = 0
    tell: list[Say] = field(default_factory=list)  # others to tell (the reporter of a phone report)
    deliveries: list[Delivery] = field(default_factory=list)  # the alerts' first tries, as planned
    answers: dict[str, Any] | None = None  # an initial report's answers: its receipt is redrawn without a read


def _hours(window: timedelta) -> int:
    return int(window.total_seconds() // 3600)


class ReceiptPlace(NamedTuple):
    """Where the reporter's receipt will be: filing writes it with the report, so that no later statement of the
    update's transaction has to (the message is None when the receipt comes as a new message)."""

    chat_id: int
    message_id: int | None
    locale: str


def place_receipt(report: Report, receipt: ReceiptPlace | None) -> None:
    if receipt is not None:
        report.receipt_chat_id, report.receipt_message_id, report.receipt_locale = receipt


async def already_filed(repos: Repos, reporter: Member, token: str) -> Filed | None:
    existing = await repos.incidents.report_by_token(reporter.id, token)
    if existing is None:
        return None
    incident = await repos.incidents.get(existing.incident_id)
    assert incident is not None
    return Filed(created=False, number=incident.number, kind=existing.kind, seq=existing.seq, incident_id=incident.id)


async def submit_initial_report(
    repos: Repos,
    user: Member,
    draft: Mapping[str, Any],
    extras: Mapping[str, Mapping[str, Any]],
    config: Config,
    receipt: ReceiptPlace | None = None,
) -> Filed:
    """Store the report once (idempotent on the draft token) and decide who is alerted. The written report
    after a flash or phone report (its draft names the incident) completes that incident."""
    subject = draft.get("subject") or {}
    if isinstance(subject, Mapping) and subject.get("incident"):
        return await _written_report(repos, user, draft, extras, config, int(subject["incident"]), receipt)
    return await _open_incident(repos, user, user, draft, extras, config, "initial", receipt)


async def submit_flash(
    repos: Repos,
    user: Member,
    draft: Mapping[str, Any],
    extras: Mapping[str, Mapping[str, Any]],
    config: Config,
    receipt: ReceiptPlace | None = None,
) -> Filed:
    """A flash report (快报): the incident is known and the duty groups alerted at once; the written initial
    report is due within 30 minutes (the clock table's `flash` rule)."""
    return await _open_incident(repos, user, user, draft, extras, config, "flash", receipt)


async def submit_phone(
    repos: Repos,
    user: Member,
    draft: Mapping[str, Any],
    extras: Mapping[str, Mapping[str, Any]],
    config: Config,
    receipt: ReceiptPlace | None = None,
) -> Filed:
    """A report received by phone, logged by duty staff for a named reporter: recorded with the time it was
    received, and the reporter's written report is due 30 minutes later (they are told in private)."""
    answers = draft["answers"]
    reporter = await repos.users.get(int(answers["caller"]))
    if (
        reporter is None
        or not reporter.active
        or not await may(repos, user, Action.PHONE_FOR, unit_id=reporter.unit_id)
    ):
        raise Refused(N_("phone.caller_gone"))
    return await _open_incident(repos, user, reporter, draft, extras, config, "phone", receipt)


@dataclass(frozen=True)
class Grading:
    """The grade a report's filer chose (or the suggested one) and why."""

    suggested: str
    grade: str
    reason: str | None

    @classmethod
    def of(cls, extras: Mapping[str, Mapping[str, Any]], suggested_before: str = Grade.UNGRADED.value) -> Grading:
        grading = extras.get("grade") or {}
        suggested = grading.get("suggested") or suggested_before
        return cls(suggested, grading.get("grade") or suggested, grading.get("reason"))

    def fields(self) -> dict[str, Any]:
        return {"suggested": self.suggested, "grade": self.grade, "reason": self.reason}


def plan_incident(
    user: Member,
    reporter: Member,
    draft: Mapping[str, Any],
    grading: Grading,
    config: Config,
    kind: str,
    targets: list[tuple[DutyGroup | None, str]],
    receipt: ReceiptPlace | None,
) -> tuple[FilingPlan, Planned, Deadline, datetime]:
    """A new incident's rows, planned without a read or a write (filing writes them): the incident from the report's
    facts, its first report, the deadlines it meets and opens, its alerts, the audit entry. Also returns the alerts
    as planned (with their groups' titles), the first follow-up's deadline and when the written report is due."""
    now = config.clock()
    answers = draft["answers"]
    facts = ReportFacts.from_answers(answers)
    if facts.occurred_at is None or facts.category is None:
        raise ValueError("a new incident's report has a time and a category (the form asks for both)")
    received_at = facts.received_at or now
    clock_facts = Facts(grading.grade, facts.category, facts.subtype, facts.occurred_at)
    initial, first_followup = occurrence_deadlines(clock_facts, config.policy, config.tz)
    trigger = {"flash": Trigger.FLASH, "phone": Trigger.PHONE}.get(kind)
    written = deadlines(trigger, received_at, clock_facts, config.policy, config.tz) if trigger else []
    initial_due = min([d.due_at for d in written] or [initial.due_at])
    # numbered last (storage.filing): until then the incident has a unique stand-in
    incident = Incident(
        number=f"~{user.id}-{draft['token']}"[:32],
        unit_id=reporter.unit_id,
        reporter_id=reporter.id,
        suggested_grade=grading.suggested,
        grade=grading.grade,
        grade_reason=grading.reason,
        status="open",
        initial_due_at=initial_due,
        next_due_at=first_followup.due_at,
        created_at=now,
    )
    incident.take_facts(facts)
    unknown = facts.unknown()
    report = Report(
        kind=kind,
        seq=0,
        draft_token=draft["token"],
        reporter_id=user.id,
        fields={**answers, "_grade": grading.fields()},
        started_at=datetime.fromisoformat(draft["started_at"]),
        submitted_at=now,
        received_at=received_at,
        late=kind == "initial" and now > initial_due,
        due_at=initial_due if kind == "initial" else None,
        unknown=unknown,
        incomplete=bool(unknown),
    )
    place_receipt(report, receipt)
    attachments = attachment_rows(answers)
    # the deadlines: the one this report met (an initial report), and what opens, each kind once (a new incident:
    # nothing is open yet); their incident's id and this report's are set as they are written
    clock_rows = [met_row(incident, initial, reporter.id, None, now)] if kind == "initial" else []
    for deadline, seq in [*((d, 0) for d in written), (first_followup, 1)]:
        if all(row["due"] != deadline.due.value for row in clock_rows if row["state"] == "open"):
            clock_rows.append(open_row(incident, deadline, reporter.id, config, now, seq))
    planned = new_alerts(incident, report, [(a.kind, a.file_id) for a in attachments], config, targets)
    audit = AuditRow(
        f"tg:{user.telegram_id}",
        "report.submit",
        "incident",
        "",
        after={
            "kind": kind,
            "grade": grading.grade,
            "suggested_grade": grading.suggested,
            "grade_reason": grading.reason,
            "late": report.late,
            "unknown": unknown,
            "reporter": reporter.telegram_id,
            "received_at": received_at.isoformat(),
        },
    )
    plan = FilingPlan(
        incident,
        report,
        day=now.astimezone(config.tz).strftime("%Y%m%d"),
        audit=audit,
        attachments=attachments,
        deadlines=clock_rows,
        alerts=[(alert, parts) for alert, parts, _title in planned],
    )
    return plan, planned, first_followup, initial_due


async def _open_incident(
    repos: Repos,
    user: Member,
    reporter: Member,
    draft: Mapping[str, Any],
    extras: Mapping[str, Mapping[str, Any]],
    config: Config,
    kind: str,
    receipt: ReceiptPlace | None = None,
) -> Filed:
    """Read what filing needs (the unit, its duty groups, who is told without one), plan (pure), then write."""
    grading = Grading.of(extras)
    found = await repos.unit_with_groups(reporter.unit_id)
    if found is None:
        raise Refused(N_("report.unit_gone"))
    unit = found[0]
    targets = targets_of(unit, grading.grade, found[1], found[2])
    admins = await unit_admins(repos, unit) if targets[0][0] is None else []  # (read before the number)
    plan, planned, first_followup, initial_due = plan_incident(
        user, reporter, draft, grading, config, kind, targets, receipt
    )
    number = await repos.filing.file(plan)
    if number is None:
        # the same draft filed before (or concurrently, by another process): the first one wins (no number was
        # taken for this one)
        done = await already_filed(repos, user, draft["token"])
        if done is None:
            raise RuntimeError(f"draft {draft['token']} is taken, but no report of it is there")
        return done
    incident, report = plan.incident, plan.report
    filed = Filed(
        created=True,
        number=number,
        report_id=report.id,
        late=report.late,
        next_due_at=incident.next_due_at,
        next_due_hours=_hours(first_followup.due_at - incident.occurred_at),
        initial_due_at=initial_due,
        incident_id=incident.id,
        kind=kind,
        answers=report_answers(report.fields),
    )
    note_alerts(repos, filed, planned, [(admin, unit.name) for admin in admins])
    if kind == "phone" and reporter.id != user.id:
        params = {"number": number, "by": user.name, "received": report.received_at, "due": initial_due}
        filed.tell.append(Say(reporter.telegram_id, N_("phone.reporter"), params, reporter.locale))
    await plan_deliveries(repos, filed, incident, report, planned, (reporter, unit, [report]))
    return filed


async def _written_report(
    repos: Repos,
    user: Member,
    draft: Mapping[str, Any],
    extras: Mapping[str, Mapping[str, Any]],
    config: Config,
    incident_id: int,
    receipt: ReceiptPlace | None = None,
) -> Filed:
    """The written initial report of an incident a flash or phone report opened: it completes the incident's
    facts, meets the written-report deadline, and the duty groups get the full initial report."""
    token = draft["token"]
    done = await already_filed(repos, user, token)
    if done is not None:
        return done
    now = config.clock()
    incident = await repos.incidents.get_for_update(incident_id)
    if incident is None or not await may(
        repos, user, Action.INCIDENT_WRITE, unit_id=incident.unit_id, owner_id=incident.reporter_id
    ):
        raise Refused(N_("followup.not_yours"))
    answers = draft["answers"]
    grading = Grading.of(extras, incident.suggested_grade)
    facts = ReportFacts.from_answers(answers)
    try:
        async with repos.session.begin_nested():
            unknown = facts.unknown()
            report = Report(
                incident_id=incident.id,
                kind="initial",
                seq=0,
                draft_token=token,
                reporter_id=user.id,
                fields={**answers, "_grade": grading.fields()},
                started_at=datetime.fromisoformat(draft["started_at"]),
                submitted_at=now,
                received_at=now,
                unknown=unknown,
                incomplete=bool(unknown),
            )
            place_receipt(report, receipt)
            attachments = attachment_rows(answers)
            await repos.incidents.add_report(report, attachments)
    except IntegrityError:
        done = await already_filed(repos, user, token)
        if done is None:
            raise
        return done
    incident.take_facts(facts)
    incident.suggested_grade, incident.grade, incident.grade_reason = grading.suggested, grading.grade, grading.reason
    actor = f"tg:{user.telegram_id}"
    answered = await meet(repos, incident.id, [Due.WRITTEN, Due.INITIAL], report.id, now, actor)
    report.due_at = answered.due_at if answered else incident.initial_due_at
    report.late = answered.late if answered else now > incident.initial_due_at
    await repos.audit.record(
        actor,
        "report.submit",
        "incident",
        incident.id,
        after={"number": incident.number, "kind": "initial", "written": True, "late": report.late, "unknown": unknown},
    )
    filed = Filed(
        created=True,
        number=incident.number,
        report_id=report.id,
        late=report.late,
        next_due_at=incident.next_due_at,
        next_due_hours=_hours(incident.next_due_at - incident.occurred_at) if incident.next_due_at else 0,
        initial_due_at=report.due_at,
        incident_id=incident.id,
        answers=report_answers(report.fields),
    )
    await plan_alerts(repos, filed, incident, report, [(a.kind, a.file_id) for a in attachments], config)
    return filed


async def start_written(repos: Repos, user: Member, incident_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The written initial report about an incident a flash or phone report opened: (subject, prefilled
    answers from what is known); Refused when it is not this person's to write or is written already."""
    incident = await repos.incidents.get(incident_id)
    if incident is None or not await may(
        repos, user, Action.INCIDENT_WRITE, unit_id=incident.unit_id, owner_id=incident.reporter_id
    ):
        raise Refused(N_("followup.not_yours"))
    if await repos.incidents.count_reports(incident.id, "initial"):
        raise Refused(N_("written.already"))
    first = (await repos.incidents.reports(incident.id))[0]
    known = {
        k: v
        for k, v in first.fields.items()
        if k in ("occurred_at", "place", "category", "subtype", "casualties") and v
    }
    if first.fields.get("what"):
        known["description"] = first.fields["what"]
    return {"incident": incident.id, "number": incident.number}, known


async def written_due(repos: Repos, user: Member) -> int | None:
    """The incident whose written report this person still owes (the most recent), if any."""
    return await repos.deadlines.latest_open(user.id, Due.WRITTEN.value)


async def plan_alerts(
    repos: Repos,
    filed: Filed,
    incident: Incident,
    report: Report,
    attachments: list[tuple[str, str]],
    config: Config,
    known: tuple[Member, Unit, Sequence[Report]] | None = None,
    targets: list[tuple[DutyGroup | None, str]] | None = None,
) -> None:
    """The unit's duty group always; the parent unit's too from grade III (较大) up; without a duty group,
    the unit's administrators (else the parent's). An alert of a grade that asks for acknowledgement is
    escalated while nobody acknowledges it (the scheduler times the steps from its delivery). `known`, `targets`:
    what the caller read already (see _open_incident)."""
    planned = await write_alerts(repos, filed, incident, report, attachments, config, known, targets)
    await plan_deliveries(repos, filed, incident, report, planned, known)


Planned = list[tuple[Alert, list[AlertPart], str | None]]  # each new alert, its parts, its group's title


async def write_alerts(
    repos: Repos,
    filed: Filed,
    incident: Incident,
    report: Report,
    attachments: list[tuple[str, str]],
    config: Config,
    known: tuple[Member, Unit, Sequence[Report]] | None = None,
    targets: list[tuple[DutyGroup | None, str]] | None = None,
) -> Planned:
    """plan_alerts' rows: the alerts and their parts (what the alerts show is planned after, plan_deliveries)."""
    unit = known[1] if known is not None else await repos.units.get(incident.unit_id)
    assert unit is not None
    if targets is None:
        targets = await alert_targets(repos, unit, incident.grade)
    planned = new_alerts(incident, report, attachments, config, targets)
    await repos.alerts.add_alerts([(alert, parts) for alert, parts, _title in planned])
    admins = await unit_admins(repos, unit) if targets[0][0] is None else []
    note_alerts(repos, filed, planned, [(admin, unit.name) for admin in admins])
    return planned


def new_alerts(
    incident: Incident,
    report: Report,
    attachments: list[tuple[str, str]],
    config: Config,
    targets: list[tuple[DutyGroup | None, str]],
) -> Planned:
    """The alerts of a report to its duty groups and their parts, not written yet (their ids unknown)."""
    now = report.submitted_at
    escalation = ack_steps(facts_of(incident), config.policy, config.tz, now)
    planned: Planned = []
    for group, level in targets:
        if group is None:
            continue
        alert = Alert(
            incident_id=incident.id,
            report_id=report.id,
            unit_id=group.unit_id,
            chat_id=group.chat_id,
            level=level,
            created_at=now,
            next_attempt_at=next_retry(now, now, 0),
            ack_due_at=escalation[0].at if escalation else None,
        )
        planned.append((alert, plan_parts(alert.id, attachments), group.title))
    return planned


def note_alerts(repos: Repos, filed: Filed, planned: Planned, admins: list[tuple[Member, str]]) -> None:
    """What filing says of its alerts, once written: their ids and statuses (queued), the escalation's timer, and
    who is told instead when no duty group is bound (the unit's administrators, with the unit's name)."""
    for alert, _parts, title in planned:
        wake_at(repos.session, alert.ack_due_at)
        filed.alert_ids.append(alert.id)
        filed.statuses.append(AlertStatus(title or str(alert.chat_id), "queued"))  # as alert_statuses reads it
    filed.admins = admins


async def plan_deliveries(
    repos: Repos,
    filed: Filed,
    incident: Incident,
    report: Report,
    planned: Planned,
    known: tuple[Member, Unit, Sequence[Report]] | None = None,
) -> None:
    """The incident card the alerts show, and each new alert's first try as planned (sent without a read back)."""
    filed.card = await incident_card(repos, incident, report_id=report.id, known=known)
    filed.deliveries = [planned_delivery(alert, parts, filed.card, title) for alert, parts, title in planned]


async def alert_targets(repos: Repos, unit: Unit, grade: str) -> list[tuple[DutyGroup | None, str]]:
    """The duty groups an incident of this grade in this unit alerts (None: the unit has none bound)."""
    found = await repos.unit_with_groups(unit.id)
    return targets_of(unit, grade, *(found[1:] if found else (None, None)))


def targets_of(
    unit: Unit, grade: str, own: DutyGroup | None, parent: DutyGroup | None
) -> list[tuple[DutyGroup | None, str]]:
    """alert_targets from the unit's duty group and its parent unit's: the unit's always, the parent's from grade III
    (较大) up."""
    targets = [(own, "unit")]
    if unit.parent_id is not None and at_least(grade, Grade.III):
        targets.append((parent, "parent"))
    return targets


def plan_parts(alert_id: int, attachments: list[tuple[str, str]]) -> list[AlertPart]:
    """The messages of one alert: its text, then the attachments, albums where Telegram allows them."""
    parts = [AlertPart(alert_id=alert_id, position=0, kind="text", payload={})]
    for position, group in enumerate(group_attachments([kind for kind, _ in attachments]), 1):
        items = [list(attachments[i]) for i in group]
        parts.append(
            AlertPart(
                alert_id=alert_id,
                position=position,
                kind="media",
                payload={"items": items, "first": group[0] + 1, "total": len(attachments)},
            )
        )
    return parts


@dataclass
class Acknowledged:
    outcome: str  # ok | already | refused | unknown
    card: Card | None = None


async def acknowledge(repos: Repos, alert_id: int, user: Member | None, config: Config) -> Acknowledged:
    """Record that a duty officer of the alerted unit (or a unit above it) has seen the alert."""
    now = config.clock()
    alert = await repos.alerts.alert(alert_id)
    if alert is None:
        return Acknowledged("unknown")
    if user is None or not await may(repos, user, Action.ALERT_ACK, unit_id=alert.unit_id):
        return Acknowledged("refused")
    incident = await repos.incidents.get(alert.incident_id)
    assert incident is not None
    if not await repos.alerts.add_acknowledgement(alert.id, user.id, now):
        return Acknowledged("already")
    alert.ack_due_at = None  # nobody needs reminding any more
    await repos.audit.record(
        f"tg:{user.telegram_id}",
        "alert.acknowledge",
        "alert",
        alert.id,
        after={"incident": incident.number, "at": now.isoformat()},
    )
    return Acknowledged("ok", await incident_card(repos, incident, alert.id))


async def filed_number(repos: Repos, user: Member, token: str) -> str | None:
    """The incident number a draft was filed as, if it was (a button of a submitted draft tapped again)."""
    filed = await already_filed(repos, user, token)
    return filed.number if filed else None
