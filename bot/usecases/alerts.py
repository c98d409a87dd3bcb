"""Duty-group alerts Telegram has not accepted yet: claim one for another try, record the result, and
decide whom to tell (the unit's administrators) when it fails or finally gets through."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.domain.delivery import next_retry, notify_admins
from bot.domain.text import N_
from bot.usecases.common import AlertOut, Say, incident_card, unit_admins
from storage.models import Alert
from storage.repositories import Repos


async def alert_sent(repos: Repos, alert_id: int, chat_id: int, message_id: int, now: datetime) -> None:
    """Telegram accepted the alert (in the chat it ended up in): remember its message, stop retrying."""
    await repos.incidents.set_alert_message(alert_id, chat_id, message_id, now)


async def due_alerts(repos: Repos, now: datetime) -> Sequence[int]:
    return await repos.incidents.undelivered_alerts(now)


async def claim_alert(repos: Repos, alert_id: int, now: datetime) -> AlertOut | None:
    """Take one due alert for a delivery attempt (one process wins); None when it is not due any more."""
    alert = await repos.incidents.alert(alert_id)
    if alert is None:
        return None
    alert = await repos.incidents.claim_alert(alert_id, now, next_retry(alert.created_at, now, alert.attempts + 1))
    if alert is None:  # another process took it, or it went out meanwhile
        return None
    incident = await repos.incidents.get(alert.incident_id)
    assert incident is not None
    card = await incident_card(repos, incident, alert.id)
    attachments = tuple((a.kind, a.file_id) for a in await repos.incidents.attachments(alert.report_id))
    return AlertOut(alert.id, alert.chat_id, card, attachments)


async def _group_and_admins(repos: Repos, alert: Alert) -> tuple[str, list[tuple[int, str | None]]]:
    group = await repos.groups.by_chat(alert.chat_id)
    unit = await repos.units.get(alert.unit_id)
    assert unit is not None
    admins = await unit_admins(repos, unit)
    return (group.title if group and group.title else str(alert.chat_id)), [(a.telegram_id, a.locale) for a in admins]


async def alert_redelivered(repos: Repos, alert_id: int, chat_id: int, message_id: int, now: datetime) -> list[Say]:
    """A retry went through; administrators who were told it could not be delivered are told it has been."""
    await alert_sent(repos, alert_id, chat_id, message_id, now)
    alert = await repos.incidents.alert(alert_id)
    assert alert is not None
    incident = await repos.incidents.get(alert.incident_id)
    assert incident is not None
    await repos.audit.record("system", "alert.redeliver", "alert", alert.id,
                             after={"incident": incident.number, "attempt": alert.attempts})  # fmt: skip
    if alert.undelivered_notice_at is None:
        return []
    title, admins = await _group_and_admins(repos, alert)
    params = {"number": incident.number, "group": title, "time": now}
    return [Say(tid, N_("alert.delivered_late_admin"), params, locale) for tid, locale in admins]


async def alert_undelivered(repos: Repos, alert_id: int, error: str, now: datetime) -> list[Say]:
    """A retry failed: recorded; after NOTICE_AFTER failures the administrators get the alert and the reason."""
    await repos.incidents.alert_failed(alert_id, error)
    alert = await repos.incidents.alert(alert_id)
    assert alert is not None
    if not notify_admins(alert.attempts, alert.undelivered_notice_at is not None):
        return []
    incident = await repos.incidents.get(alert.incident_id)
    assert incident is not None
    title, admins = await _group_and_admins(repos, alert)
    card = await incident_card(repos, incident, alert.id)
    await repos.incidents.alert_notice_sent(alert.id, now)
    await repos.audit.record("system", "alert.undelivered", "alert", alert.id,
                             after={"incident": incident.number, "error": error[:200],
                                    "told": [tid for tid, _ in admins]})  # fmt: skip
    params = {"group": title, "attempts": alert.attempts + 1, "error": error[:200]}
    return [Say(tid, N_("alert.undelivered_admin"), params, locale, card) for tid, locale in admins]
