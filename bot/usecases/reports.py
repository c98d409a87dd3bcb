"""Filing the initial report and acknowledging its alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.domain.deadlines import due
from bot.domain.delivery import next_retry
from bot.domain.grading import Grade, at_least
from bot.domain.roles import DUTY_STAFF, Role
from conversations.engine import Engine
from storage.models import Alert, Attachment, DutyGroup, Incident, Report, Unit, User
from storage.repositories import Repos


@dataclass
class Submission:
    incident: Incident
    report: Report
    created: bool
    alerts: list[tuple[Alert, DutyGroup]] = field(default_factory=list)
    unit: Unit | None = None
    admins_to_warn: list[User] = field(default_factory=list)  # when the unit has no duty group


def incident_number(day: str, seq: int) -> str:
    return f"KB-{day}-{seq:04d}"


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def submit_initial_report(
    repos: Repos, user: User, engine: Engine, draft: dict[str, Any], now: datetime, tz: tzinfo
) -> Submission:
    """Store the report once (idempotent on the draft token) and decide who is alerted."""
    token = draft["token"]
    existing = await repos.incidents.report_by_token(user.id, token)
    if existing is not None:
        incident = await repos.incidents.get(existing.incident_id)
        assert incident is not None
        return Submission(incident, existing, created=False)

    answers = draft["answers"]
    grade, reason = engine.grade(draft)
    suggested = engine.suggested_grade(answers) or Grade.UNGRADED.value
    occurred_at = datetime.fromisoformat(answers["occurred_at"])
    place = answers.get("place") or {}
    casualties = answers.get("casualties") or {}
    day = now.astimezone(tz).strftime("%Y%m%d")
    initial_due = due("initial", occurred_at)

    try:
        async with repos.session.begin_nested():
            number = incident_number(day, await repos.incidents.next_number(day))
            incident = Incident(
                number=number,
                unit_id=user.unit_id,
                reporter_id=user.id,
                category=answers["category"],
                subtype=answers.get("subtype"),
                suggested_grade=suggested,
                grade=grade or suggested,
                grade_reason=reason,
                occurred_at=occurred_at,
                place_text=place.get("text"),
                latitude=place.get("lat"),
                longitude=place.get("lon"),
                deaths=casualties.get("deaths"),
                missing=casualties.get("missing"),
                serious_injuries=casualties.get("serious"),
                injuries=casualties.get("injured"),
                trapped=casualties.get("trapped"),
                loss_cny=_int_or_none(answers.get("loss")),
                status="open",
                initial_due_at=initial_due,
                next_due_at=due("first_followup", occurred_at),
                created_at=now,
            )
            report = Report(
                kind="initial",
                seq=0,
                draft_token=token,
                reporter_id=user.id,
                fields={**answers, "_grade": {"suggested": suggested, "grade": grade, "reason": reason}},
                started_at=datetime.fromisoformat(draft["started_at"]),
                submitted_at=now,
                received_at=now,
                late=now > initial_due,
            )
            attachments = [
                Attachment(position=i, kind=a["kind"], file_id=a["file_id"], file_unique_id=a["file_unique_id"])
                for i, a in enumerate(answers.get("attachments") or [])
            ]
            await repos.incidents.add(incident, report, attachments)
    except IntegrityError:
        # the same draft submitted concurrently by another process: the first one wins
        existing = await repos.incidents.report_by_token(user.id, token)
        if existing is None:
            raise
        incident = await repos.incidents.get(existing.incident_id)
        assert incident is not None
        return Submission(incident, existing, created=False)

    await repos.audit.record(
        f"tg:{user.telegram_id}",
        "report.submit",
        "incident",
        incident.id,
        after={"number": number, "kind": "initial", "grade": incident.grade, "suggested_grade": suggested,
               "grade_reason": reason, "late": report.late},
    )  # fmt: skip
    unit = await repos.units.get(user.unit_id)
    assert unit is not None
    submission = Submission(incident, report, created=True, unit=unit)
    await _plan_alerts(repos, submission, user, unit)
    return submission


async def _plan_alerts(repos: Repos, submission: Submission, user: User, unit: Unit) -> None:
    """The unit's duty group always; the parent unit's too from grade III (较大) up."""
    incident = submission.incident
    now = incident.created_at

    async def add(group: DutyGroup, level: str) -> None:
        alert = Alert(incident_id=incident.id, report_id=submission.report.id, unit_id=group.unit_id,
                      chat_id=group.chat_id, level=level, created_at=now,
                      next_attempt_at=next_retry(now, now, 0))  # fmt: skip
        submission.alerts.append((await repos.incidents.add_alert(alert), group))

    group = await repos.groups.for_unit(unit.id)
    if group is not None:
        await add(group, "unit")
    else:
        submission.admins_to_warn = await unit_admins(repos, unit)
    if unit.parent_id is not None and at_least(incident.grade, Grade.III):
        parent_group = await repos.groups.for_unit(unit.parent_id)
        if parent_group is not None:
            await add(parent_group, "parent")


async def unit_admins(repos: Repos, unit: Unit) -> list[User]:
    """The administrators of a unit, else of its parent: who hears about a unit's delivery problems."""
    admins = list(await repos.users.with_role(unit.id, Role.ADMIN))
    if not admins and unit.parent_id is not None:
        admins = list(await repos.users.with_role(unit.parent_id, Role.ADMIN))
    return admins


@dataclass
class AckResult:
    outcome: str  # ok | already | refused | unknown
    alert: Alert | None = None
    incident: Incident | None = None


async def acknowledge(repos: Repos, alert_id: int, user: User | None, now: datetime) -> AckResult:
    """Record that a duty officer of the alerted unit (or a unit above it) has seen the alert."""
    alert = await repos.incidents.alert(alert_id)
    if alert is None:
        return AckResult("unknown")
    if (
        user is None
        or not (DUTY_STAFF & user.roles)
        or not await repos.units.is_descendant(alert.unit_id, user.unit_id)
    ):
        return AckResult("refused", alert)
    incident = await repos.incidents.get(alert.incident_id)
    if not await repos.incidents.add_acknowledgement(alert.id, user.id, now):
        return AckResult("already", alert, incident)
    await repos.audit.record(
        f"tg:{user.telegram_id}", "alert.acknowledge", "alert", alert.id,
        after={"incident": incident.number if incident else None, "at": now.isoformat()},
    )  # fmt: skip
    return AckResult("ok", alert, incident)
