"""Filing the initial report and acknowledging its alerts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.domain.clocks import Facts, ack_steps, occurrence_deadlines
from bot.domain.delivery import group_attachments, next_retry
from bot.domain.grading import Grade, at_least
from bot.domain.roles import DUTY_STAFF
from bot.usecases.common import AlertStatus, Card, Config, Member, alert_statuses, incident_card, unit_admins
from bot.usecases.deadlines import facts_of, open_deadline, record_met, unknown_elements
from storage.models import Alert, AlertPart, Attachment, Incident, Report
from storage.repositories import Repos, wake_at


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
    kind: str = "initial"  # initial | followup | …
    seq: int = 0  # the follow-up's number
    incident_id: int = 0


def _hours(window: timedelta) -> int:
    return int(window.total_seconds() // 3600)


def incident_number(day: str, seq: int) -> str:
    return f"KB-{day}-{seq:04d}"


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def already_filed(repos: Repos, reporter: Member, token: str) -> Filed | None:
    existing = await repos.incidents.report_by_token(reporter.id, token)
    if existing is None:
        return None
    incident = await repos.incidents.get(existing.incident_id)
    assert incident is not None
    return Filed(created=False, number=incident.number, kind=existing.kind, seq=existing.seq, incident_id=incident.id)


async def submit_initial_report(
    repos: Repos, user: Member, draft: Mapping[str, Any], extras: Mapping[str, Mapping[str, Any]], config: Config
) -> Filed:
    """Store the report once (idempotent on the draft token) and decide who is alerted."""
    token = draft["token"]
    done = await already_filed(repos, user, token)
    if done is not None:
        return done
    now = config.clock()
    answers = draft["answers"]
    grading = extras.get("grade") or {}
    suggested = grading.get("suggested") or Grade.UNGRADED.value
    grade, reason = grading.get("grade") or suggested, grading.get("reason")
    occurred_at = datetime.fromisoformat(answers["occurred_at"])
    place = answers.get("place") or {}
    casualties = answers.get("casualties") or {}
    day = now.astimezone(config.tz).strftime("%Y%m%d")
    initial, first_followup = occurrence_deadlines(
        Facts(grade, answers["category"], answers.get("subtype"), occurred_at), config.policy, config.tz
    )
    initial_due = initial.due_at
    try:
        async with repos.session.begin_nested():
            number = incident_number(day, await repos.incidents.next_number(day))
            incident = Incident(
                number=number, unit_id=user.unit_id, reporter_id=user.id, category=answers["category"],
                subtype=answers.get("subtype"), suggested_grade=suggested, grade=grade, grade_reason=reason,
                occurred_at=occurred_at, place_text=place.get("text"), latitude=place.get("lat"),
                longitude=place.get("lon"), deaths=casualties.get("deaths"), missing=casualties.get("missing"),
                serious_injuries=casualties.get("serious"), injuries=casualties.get("injured"),
                trapped=casualties.get("trapped"), loss_cny=_int_or_none(answers.get("loss")), status="open",
                initial_due_at=initial_due, next_due_at=first_followup.due_at, created_at=now,
            )  # fmt: skip
            unknown = unknown_elements(answers)
            report = Report(
                kind="initial", seq=0, draft_token=token, reporter_id=user.id,
                fields={**answers, "_grade": {"suggested": suggested, "grade": grade, "reason": reason}},
                started_at=datetime.fromisoformat(draft["started_at"]), submitted_at=now, received_at=now,
                late=now > initial_due, due_at=initial_due, unknown=unknown, incomplete=bool(unknown),
            )  # fmt: skip
            attachments = [
                Attachment(position=i, kind=a["kind"], file_id=a["file_id"], file_unique_id=a["file_unique_id"])
                for i, a in enumerate(answers.get("attachments") or [])
            ]
            await repos.incidents.add(incident, report, attachments)
    except IntegrityError:
        # the same draft submitted concurrently by another process: the first one wins
        done = await already_filed(repos, user, token)
        if done is None:
            raise
        return done
    await record_met(repos, incident, initial, user.id, report.id, now)
    await open_deadline(repos, incident, first_followup, user.id, config, now, seq=1)
    await repos.audit.record(
        f"tg:{user.telegram_id}", "report.submit", "incident", incident.id,
        after={"number": number, "kind": "initial", "grade": incident.grade, "suggested_grade": suggested,
               "grade_reason": reason, "late": report.late, "unknown": unknown},
    )  # fmt: skip
    filed = Filed(
        created=True, number=number, report_id=report.id, late=report.late, next_due_at=incident.next_due_at,
        next_due_hours=_hours(first_followup.due_at - occurred_at), initial_due_at=initial_due, incident_id=incident.id,
    )  # fmt: skip
    await plan_alerts(repos, filed, incident, report, [(a.kind, a.file_id) for a in attachments], config)
    return filed


async def plan_alerts(
    repos: Repos,
    filed: Filed,
    incident: Incident,
    report: Report,
    attachments: list[tuple[str, str]],
    config: Config,
) -> None:
    """The unit's duty group always; the parent unit's too from grade III (较大) up; without a duty group,
    the unit's administrators (else the parent's). An alert of a grade that asks for acknowledgement is
    escalated while nobody acknowledges it (the scheduler times the steps from its delivery)."""
    now = report.submitted_at
    escalation = ack_steps(facts_of(incident), config.policy, config.tz, now)
    unit = await repos.units.get(incident.unit_id)
    assert unit is not None
    filed.card = await incident_card(repos, incident, report_id=report.id)
    targets = [(await repos.groups.for_unit(unit.id), "unit")]
    if unit.parent_id is not None and at_least(incident.grade, Grade.III):
        targets.append((await repos.groups.for_unit(unit.parent_id), "parent"))
    for group, level in targets:
        if group is None:
            continue
        alert = Alert(incident_id=incident.id, report_id=report.id, unit_id=group.unit_id, chat_id=group.chat_id,
                      level=level, created_at=now, next_attempt_at=next_retry(now, now, 0),
                      ack_due_at=escalation[0].at if escalation else None)  # fmt: skip
        wake_at(repos.session, alert.ack_due_at)
        await repos.incidents.add_alert(alert)
        await repos.incidents.add_parts(plan_parts(alert.id, attachments))
        filed.alert_ids.append(alert.id)
    if targets[0][0] is None:
        filed.admins = [(admin, unit.name) for admin in await unit_admins(repos, unit)]
    filed.statuses = await alert_statuses(repos, report.id)


def plan_parts(alert_id: int, attachments: list[tuple[str, str]]) -> list[AlertPart]:
    """The messages of one alert: its text, then the attachments, albums where Telegram allows them."""
    parts = [AlertPart(alert_id=alert_id, position=0, kind="text", payload={})]
    for position, group in enumerate(group_attachments([kind for kind, _ in attachments]), 1):
        items = [list(attachments[i]) for i in group]
        parts.append(AlertPart(alert_id=alert_id, position=position, kind="media",
                               payload={"items": items, "first": group[0] + 1, "total": len(attachments)}))  # fmt: skip
    return parts


@dataclass
class Acknowledged:
    outcome: str  # ok | already | refused | unknown
    card: Card | None = None


async def acknowledge(repos: Repos, alert_id: int, user: Member | None, config: Config) -> Acknowledged:
    """Record that a duty officer of the alerted unit (or a unit above it) has seen the alert."""
    now = config.clock()
    alert = await repos.incidents.alert(alert_id)
    if alert is None:
        return Acknowledged("unknown")
    if (
        user is None
        or not (DUTY_STAFF & user.roles)
        or not await repos.units.is_descendant(alert.unit_id, user.unit_id)
    ):
        return Acknowledged("refused")
    incident = await repos.incidents.get(alert.incident_id)
    assert incident is not None
    if not await repos.incidents.add_acknowledgement(alert.id, user.id, now):
        return Acknowledged("already")
    alert.ack_due_at = None  # nobody needs reminding any more
    await repos.audit.record(
        f"tg:{user.telegram_id}", "alert.acknowledge", "alert", alert.id,
        after={"incident": incident.number, "at": now.isoformat()},
    )  # fmt: skip
    return Acknowledged("ok", await incident_card(repos, incident, alert.id))


async def filed_number(repos: Repos, user: Member, token: str) -> str | None:
    """The incident number a draft was filed as, if it was (a button of a submitted draft tapped again)."""
    filed = await already_filed(repos, user, token)
    return filed.number if filed else None
