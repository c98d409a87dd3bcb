"""Duty-group alerts about a filed report: what is sent where, and the alert as acknowledgements arrive."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, tzinfo
from html import escape
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.callbacks import AckCb
from bot.domain.delivery import next_retry, notify_admins
from bot.i18n import Catalogs, Translator
from bot.notifier import Notifier, Outbox, Outgoing
from bot.presenters import alert_text, local
from bot.settings import Settings
from bot.usecases.reports import Submission, unit_admins
from storage.models import Alert, Attachment, Incident, User
from storage.repositories import Repos
from storage.types import utcnow
from storage.uow import unit_of_work

log = logging.getLogger(__name__)

MEDIA_METHODS = {"photo": "send_photo", "video": "send_video", "voice": "send_voice", "audio": "send_audio",
                 "video_note": "send_video_note"}  # fmt: skip


def ack_keyboard(alert_id: int, _: Translator) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text=_("button.acknowledge"), callback_data=AckCb(alert=alert_id).pack())
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


async def acknowledged_alert_text(repos: Repos, incident: Incident, alert_id: int, _: Translator, tz: tzinfo) -> str:
    """The alert as it reads now, with everyone who acknowledged it."""
    reporter = await repos.users.get(incident.reporter_id)
    unit = await repos.units.get(incident.unit_id)
    assert reporter is not None and unit is not None
    initial = (await repos.incidents.reports(incident.id))[0]
    acks = await repos.incidents.acknowledgements(alert_id)
    return alert_text(incident, reporter, unit, str(initial.fields.get("description") or ""), acks, _, tz, initial.late)


def queue_attachments(out: Outbox, chat_id: int, number: str, attachments: Sequence[Attachment], _: Translator) -> None:
    """The report's photos, videos, voice notes and files, each captioned with the incident number."""
    for i, a in enumerate(attachments, 1):
        method = MEDIA_METHODS.get(a.kind, "send_document")
        kwargs: dict[str, Any] = {"chat_id": chat_id, method.removeprefix("send_"): a.file_id}
        if a.kind != "video_note":
            kwargs["caption"] = _("alert.attachment", number=number, i=i, n=len(attachments))
        out.call(method, durable=False, **kwargs)  # the alert's redelivery sends them again


async def queue_alerts(
    sub: Submission, user: User, repos: Repos, settings: Settings, catalogs: Catalogs,
    sessionmaker: async_sessionmaker[AsyncSession], out: Outbox,
) -> list[str]:  # fmt: skip
    """Queue the duty-group alerts (sent after commit); return who is told, for the reporter."""
    group_ = catalogs.translator(settings.default_locale)
    unit = sub.unit
    assert unit is not None
    description = str(sub.report.fields.get("description") or "")
    text = alert_text(sub.incident, user, unit, description, [], group_, settings.tz, sub.report.late)
    attachments = await repos.incidents.attachments(sub.report.id)
    notified: list[str] = []
    for alert, group in sub.alerts:
        keyboard = ack_keyboard(alert.id, group_)

        async def remember(sent: Message, alert_id: int = alert.id) -> None:
            async with unit_of_work(sessionmaker) as r:
                await r.incidents.set_alert_message(alert_id, sent.chat.id, sent.message_id, utcnow())

        out.send(group.chat_id, text, reply_markup=keyboard, on_sent=remember)
        queue_attachments(out, group.chat_id, sub.incident.number, attachments, group_)
        notified.append(escape(group.title or str(group.chat_id)))
    if sub.admins_to_warn:
        unit_name = escape(unit.name)
        for admin in sub.admins_to_warn:
            admin_ = catalogs.translator(admin.locale or settings.default_locale)
            admin_text = alert_text(sub.incident, user, unit, description, [], admin_, settings.tz, sub.report.late)
            out.send(admin.telegram_id, admin_("report.no_group_admin", unit=unit_name) + "\n\n" + admin_text)
            notified.append(escape(admin.name))
    return notified


async def redeliver_alerts(
    sessionmaker: async_sessionmaker[AsyncSession], notifier: Notifier, catalogs: Catalogs, settings: Settings,
    now: datetime,
) -> int:  # fmt: skip
    """Try again every duty-group alert Telegram has not accepted yet; returns how many went through."""
    async with unit_of_work(sessionmaker) as repos:
        due = await repos.incidents.undelivered_alerts(now)
    delivered = 0
    for alert_id in due:
        delivered += await _redeliver(alert_id, sessionmaker, notifier, catalogs, settings, now)
    if due:
        log.info("alert redelivery: %d of %d due alerts delivered", delivered, len(due))
    return delivered


async def _redeliver(
    alert_id: int, sessionmaker: async_sessionmaker[AsyncSession], notifier: Notifier, catalogs: Catalogs,
    settings: Settings, now: datetime,
) -> bool:  # fmt: skip
    group_ = catalogs.translator(settings.default_locale)
    async with unit_of_work(sessionmaker) as repos:
        alert = await repos.incidents.alert(alert_id)
        if alert is None:
            return False
        alert = await repos.incidents.claim_alert(alert_id, now, next_retry(alert.created_at, now, alert.attempts + 1))
        if alert is None:  # another process took it, or it went out meanwhile
            return False
        incident = await repos.incidents.get(alert.incident_id)
        assert incident is not None
        text = await acknowledged_alert_text(repos, incident, alert.id, group_, settings.tz)
        attachments = await repos.incidents.attachments(alert.report_id)
    error: str | None = None
    sent: Any = None
    try:
        keyboard = ack_keyboard(alert.id, group_)
        sent = await notifier.deliver(
            Outgoing("send_message", {"chat_id": alert.chat_id, "text": text, "reply_markup": keyboard})
        )
        if not isinstance(sent, Message):
            error = "Forbidden: the bot was blocked or removed from the chat"
    except Exception as exc:  # every failure is recorded on the alert and retried later
        error = f"{type(exc).__name__}: {exc}"
    out = Outbox()
    async with unit_of_work(sessionmaker) as repos:
        if error is None:
            assert isinstance(sent, Message)
            await repos.incidents.set_alert_message(alert.id, sent.chat.id, sent.message_id, now)
            await repos.audit.record("system", "alert.redeliver", "alert", alert.id,
                                     after={"incident": incident.number, "attempt": alert.attempts})  # fmt: skip
            queue_attachments(out, sent.chat.id, incident.number, attachments, group_)
            if alert.undelivered_notice_at is not None:  # the administrators were alarmed: close the loop
                await _tell_admins_delivered(repos, alert, incident, catalogs, settings, now, out)
        else:
            log.warning("alert %s to chat %s not delivered (retry %d): %s",
                        alert.id, alert.chat_id, alert.attempts, error)  # fmt: skip
            await repos.incidents.alert_failed(alert.id, error)
            if notify_admins(alert.attempts, alert.undelivered_notice_at is not None):
                await _tell_admins(repos, alert, incident, error, catalogs, settings, now, out)
    await notifier.flush(out)
    return error is None


async def _group_and_admins(repos: Repos, alert: Alert) -> tuple[str, list[User]]:
    """The alerted group's title (escaped) and who answers for its unit: its administrators, else the parent's."""
    group = await repos.groups.by_chat(alert.chat_id)
    unit = await repos.units.get(alert.unit_id)
    assert unit is not None
    return escape(group.title if group and group.title else str(alert.chat_id)), await unit_admins(repos, unit)


async def _tell_admins_delivered(
    repos: Repos, alert: Alert, incident: Incident, catalogs: Catalogs, settings: Settings, now: datetime,
    out: Outbox,
) -> None:  # fmt: skip
    title, admins = await _group_and_admins(repos, alert)
    for admin in admins:
        admin_ = catalogs.translator(admin.locale or settings.default_locale)
        out.send(admin.telegram_id, admin_("alert.delivered_late_admin", number=incident.number, group=title,
                                           time=local(now, settings.tz)))  # fmt: skip


async def _tell_admins(
    repos: Repos, alert: Alert, incident: Incident, error: str, catalogs: Catalogs, settings: Settings,
    now: datetime, out: Outbox,
) -> None:  # fmt: skip
    """The duty group cannot be reached: the unit's administrators get the alert and the reason."""
    title, admins = await _group_and_admins(repos, alert)
    for admin in admins:
        admin_ = catalogs.translator(admin.locale or settings.default_locale)
        text = await acknowledged_alert_text(repos, incident, alert.id, admin_, settings.tz)
        notice = admin_("alert.undelivered_admin", group=title, attempts=alert.attempts + 1, error=escape(error[:200]))
        out.send(admin.telegram_id, notice + "\n\n" + text)
    await repos.incidents.alert_notice_sent(alert.id, now)
    await repos.audit.record("system", "alert.undelivered", "alert", alert.id,
                             after={"incident": incident.number, "error": error[:200],
                                    "told": [a.telegram_id for a in admins]})  # fmt: skip
