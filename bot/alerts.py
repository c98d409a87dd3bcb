"""Duty-group alerts about a filed report: what is sent where, and the alert as acknowledgements arrive."""

from __future__ import annotations

from datetime import tzinfo
from html import escape
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.callbacks import AckCb
from bot.i18n import Catalogs, Translator
from bot.notifier import Outbox
from bot.presenters import alert_text
from bot.settings import Settings
from bot.usecases.reports import Submission
from storage.models import Incident, User
from storage.repositories import Repos
from storage.uow import unit_of_work

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

        async def remember(sent: Any, alert_id: int = alert.id) -> None:
            async with unit_of_work(sessionmaker) as r:
                await r.incidents.set_alert_message(alert_id, sent.message_id)

        out.send(group.chat_id, text, reply_markup=keyboard, on_sent=remember)
        for i, a in enumerate(attachments, 1):
            caption = group_("alert.attachment", number=sub.incident.number, i=i, n=len(attachments))
            method = MEDIA_METHODS.get(a.kind, "send_document")
            kwargs: dict[str, Any] = {"chat_id": group.chat_id, method.removeprefix("send_"): a.file_id}
            if a.kind != "video_note":
                kwargs["caption"] = caption
            out.call(method, **kwargs)
        notified.append(escape(group.title or str(group.chat_id)))
    if sub.admins_to_warn:
        unit_name = escape(unit.name)
        for admin in sub.admins_to_warn:
            admin_ = catalogs.translator(admin.locale or settings.default_locale)
            admin_text = alert_text(sub.incident, user, unit, description, [], admin_, settings.tz, sub.report.late)
            out.send(admin.telegram_id, admin_("report.no_group_admin", unit=unit_name) + "\n\n" + admin_text)
            notified.append(escape(admin.name))
    return notified
