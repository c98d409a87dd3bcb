"""Delivering duty-group alerts: what is left to send of one (its text first, then each attachment message
or album), recording each part Telegram accepted, retrying what was not, deciding whom to tell (the unit's
administrators) when it fails or finally gets through, and what the reporter's receipt should say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.delivery import next_retry, notify_admins
from bot.domain.text import N_
from bot.usecases.common import (
    AlertStatus,
    Delivery,
    Part,
    Say,
    alert_statuses,
    incident_card,
    part_of,
    report_answers,
    unit_admins,
)
from storage.models import Alert
from storage.repositories import Repos


async def pending_delivery(repos: Repos, alert_id: int) -> Delivery | None:
    """The parts of an alert Telegram has not accepted yet; None when there are none."""
    alert = await repos.alerts.alert(alert_id)
    if alert is None:
        return None
    parts = await repos.alerts.pending_parts(alert_id)
    if not parts:
        await repos.alerts.alert_complete(alert_id)
        return None
    incident = await repos.incidents.get(alert.incident_id)
    assert incident is not None
    card = await incident_card(repos, incident, alert.id)
    return Delivery(alert.id, alert.report_id, alert.chat_id, card, tuple(part_of(p) for p in parts), alert.message_id)


async def part_accepted(
    repos: Repos,
    delivery: Delivery,
    part: Part,
    chat_id: int,
    message_id: int,
    now: datetime,
    chat_title: str | None = None,
) -> bool:
    """Telegram accepted one part (in the chat it ended up in); True when the whole alert is delivered. Run in a
    transaction of its own (the courier's): the text's write, when it is the only one, goes without BEGIN and
    COMMIT on PostgreSQL (see IncidentRepo.text_sent)."""
    last = part is delivery.parts[-1]
    if part.kind == "text":
        learn = delivery.title is None and bool(chat_title)
        await repos.alerts.text_sent(
            part.id, delivery.alert_id, chat_id, message_id, now, complete=last, alone=not learn
        )
        if learn:
            await repos.groups.learn_title(chat_id, chat_title)
        return last
    await repos.alerts.part_sent(part.id, message_id, now)
    if last:
        await repos.alerts.alert_complete(delivery.alert_id)
    return last


async def first_try_failed(repos: Repos, alert_id: int, error: str) -> None:
    """The try right after filing failed: recorded; the retry loop takes it from here."""
    await repos.alerts.alert_failed(alert_id, error)
    await repos.audit.record("system", "alert.first_try_failed", "alert", alert_id, after={"error": error[:200]})


async def due_alerts(repos: Repos, now: datetime, everything: bool = False) -> Sequence[int]:
    """Alerts with parts to send whose retry is due (all of them at start: what a crash cut off)."""
    return await repos.alerts.undelivered_alerts(None if everything else now)


async def claim_alert(repos: Repos, alert_id: int, now: datetime, everything: bool = False) -> bool:
    """Take one undelivered alert for a retry (one process wins), counting the attempt."""
    alert = await repos.alerts.alert(alert_id)
    if alert is None:
        return False
    retry_at = next_retry(alert.created_at, now, alert.attempts + 1)
    return await repos.alerts.claim_alert(alert_id, now, retry_at, due_only=not everything) is not None


async def _group_and_admins(repos: Repos, alert: Alert) -> tuple[str, list[tuple[int, str | None]]]:
    group = await repos.groups.by_chat(alert.chat_id)
    unit = await repos.units.get(alert.unit_id)
    assert unit is not None
    admins = await unit_admins(repos, unit)
    return (group.title if group and group.title else str(alert.chat_id)), [(a.telegram_id, a.locale) for a in admins]


async def alert_redelivered(repos: Repos, alert_id: int, now: datetime) -> list[Say]:
    """A retry went through; administrators who were told it could not be delivered are told it has been."""
    alert = await repos.alerts.alert(alert_id)
    assert alert is not None
    incident = await repos.incidents.get(alert.incident_id)
    assert incident is not None
    await repos.audit.record(
        "system", "alert.redeliver", "alert", alert.id, after={"incident": incident.number, "attempt": alert.attempts}
    )
    if alert.undelivered_notice_at is None:
        return []
    title, admins = await _group_and_admins(repos, alert)
    params = {"number": incident.number, "group": title, "time": now}
    return [Say(tid, N_("alert.delivered_late_admin"), params, locale) for tid, locale in admins]


async def alert_undelivered(repos: Repos, alert_id: int, error: str, now: datetime) -> list[Say]:
    """A retry failed: recorded; after NOTICE_AFTER failures the administrators get the alert and the reason."""
    await repos.alerts.alert_failed(alert_id, error)
    alert = await repos.alerts.alert(alert_id)
    assert alert is not None
    if not notify_admins(alert.attempts, alert.undelivered_notice_at is not None):
        return []
    incident = await repos.incidents.get(alert.incident_id)
    assert incident is not None
    title, admins = await _group_and_admins(repos, alert)
    card = await incident_card(repos, incident, alert.id)
    await repos.alerts.alert_notice_sent(alert.id, now)
    await repos.audit.record(
        "system",
        "alert.undelivered",
        "alert",
        alert.id,
        after={"incident": incident.number, "error": error[:200], "told": [tid for tid, _ in admins]},
    )
    params = {"group": title, "attempts": alert.attempts + 1, "error": error[:200]}
    return [Say(tid, N_("alert.undelivered_admin"), params, locale, card) for tid, locale in admins]


@dataclass(frozen=True)
class Receipt:
    """The reporter's receipt as it should read now (the adapter redraws it where it is)."""

    chat_id: int
    message_id: int | None
    locale: str | None
    number: str
    form: str
    answers: dict[str, Any]
    next_due_at: datetime | None
    next_due_hours: int
    initial_due_at: datetime
    late: bool
    statuses: list[AlertStatus] = field(default_factory=list)
    seq: int = 0
    incident_id: int = 0


async def record_receipt(repos: Repos, report_id: int, chat_id: int, message_id: int | None, locale: str) -> None:
    """Where the reporter's receipt is, so it can later say what became of the alerts."""
    await repos.incidents.set_receipt(report_id, chat_id, message_id, locale)


async def receipt(repos: Repos, report_id: int) -> Receipt | None:
    report = await repos.incidents.report(report_id)
    if report is None or report.receipt_chat_id is None:
        return None
    incident = await repos.incidents.get(report.incident_id)
    assert incident is not None
    answers = report_answers(report.fields)
    due = incident.next_due_at
    hours = int((due - incident.occurred_at).total_seconds() // 3600) if due else 0
    return Receipt(
        report.receipt_chat_id,
        report.receipt_message_id,
        report.receipt_locale,
        incident.number,
        report.kind,
        answers,
        incident.next_due_at,
        hours,
        report.due_at or incident.initial_due_at,
        report.late,
        await alert_statuses(repos, report_id),
        report.seq,
        incident.id,
    )
