"""Duty-group alerts on Telegram: what a filed report posts (after the commit), and the retry job for
alerts Telegram has not accepted yet. The decisions are the use cases' (bot/usecases/alerts.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, tzinfo
from html import escape
from typing import Any

from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.clock import utcnow
from bot.telegram.i18n import Catalogs, Translator
from bot.telegram.keyboards import ack_keyboard
from bot.telegram.notifier import Notifier, Outbox, Outgoing
from bot.telegram.presenters import alert_text, say_text
from bot.usecases import alerts as uc
from bot.usecases.common import AlertOut, Card
from bot.usecases.reports import Filed
from storage.uow import unit_of_work

log = logging.getLogger(__name__)

MEDIA_METHODS = {"photo": "send_photo", "video": "send_video", "voice": "send_voice", "audio": "send_audio",
                 "video_note": "send_video_note", "animation": "send_animation"}  # fmt: skip


def queue_attachments(
    out: Outbox, chat_id: int, number: str, attachments: Sequence[tuple[str, str]], _: Translator
) -> None:
    """The report's photos, videos, voice notes and files, each captioned with the incident number."""
    for i, (kind, file_id) in enumerate(attachments, 1):
        method = MEDIA_METHODS.get(kind, "send_document")
        kwargs: dict[str, Any] = {"chat_id": chat_id, method.removeprefix("send_"): file_id}
        if kind != "video_note":
            kwargs["caption"] = _("alert.attachment", number=number, i=i, n=len(attachments))
        out.call(method, durable=False, **kwargs)  # the alert's redelivery sends them again


class AlertPoster:
    """Posts what a filed report alerts, and redraws an alert as acknowledgements arrive (in the groups'
    language); injected into the handlers."""

    def __init__(self, catalogs: Catalogs, tz: tzinfo, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.catalogs, self.tz, self.sessionmaker = catalogs, tz, sessionmaker
        self.group_ = catalogs.translator(catalogs.default_locale)

    def queue(self, filed: Filed, out: Outbox) -> None:
        """Queue the duty-group alerts of a filed report (and, without a duty group, the administrators')."""
        for alert in filed.alerts:

            async def remember(sent: Message, alert_id: int = alert.alert_id) -> None:
                async with unit_of_work(self.sessionmaker) as repos:
                    await uc.alert_sent(repos, alert_id, sent.chat.id, sent.message_id, utcnow())

            out.send(alert.chat_id, alert_text(alert.card, self.group_, self.tz),
                     reply_markup=ack_keyboard(alert.alert_id, self.group_), on_sent=remember)  # fmt: skip
            queue_attachments(out, alert.chat_id, alert.card.number, alert.attachments, self.group_)
        for admin, unit_name in filed.admins:
            admin_ = self.catalogs.translator(admin.locale or self.catalogs.default_locale)
            assert filed.card is not None
            out.send(admin.telegram_id, admin_("report.no_group_admin", unit=escape(unit_name)) + "\n\n"
                     + alert_text(filed.card, admin_, self.tz))  # fmt: skip

    def redraw(self, out: Outbox, chat_id: int, message_id: int, alert_id: int, card: Card) -> None:
        """The alert as it reads now, with everyone who acknowledged it."""
        out.edit(chat_id, message_id, alert_text(card, self.group_, self.tz),
                 reply_markup=ack_keyboard(alert_id, self.group_))  # fmt: skip


async def redeliver_alerts(
    sessionmaker: async_sessionmaker[AsyncSession], notifier: Notifier, catalogs: Catalogs, tz: tzinfo,
    now: datetime,
) -> int:  # fmt: skip
    """Try again every duty-group alert Telegram has not accepted yet; returns how many went through."""
    async with unit_of_work(sessionmaker) as repos:
        due = await uc.due_alerts(repos, now)
    delivered = 0
    for alert_id in due:
        delivered += await _redeliver(alert_id, sessionmaker, notifier, catalogs, tz, now)
    if due:
        log.info("alert redelivery: %d of %d due alerts delivered", delivered, len(due))
    return delivered


async def _redeliver(
    alert_id: int, sessionmaker: async_sessionmaker[AsyncSession], notifier: Notifier, catalogs: Catalogs,
    tz: tzinfo, now: datetime,
) -> bool:  # fmt: skip
    group_ = catalogs.translator(catalogs.default_locale)
    async with unit_of_work(sessionmaker) as repos:
        alert: AlertOut | None = await uc.claim_alert(repos, alert_id, now)
    if alert is None:
        return False
    error: str | None = None
    sent: Any = None
    try:
        keyboard = ack_keyboard(alert.alert_id, group_)
        sent = await notifier.deliver(
            Outgoing(
                "send_message",
                {"chat_id": alert.chat_id, "text": alert_text(alert.card, group_, tz), "reply_markup": keyboard},
            )
        )
        if not isinstance(sent, Message):
            error = "Forbidden: the bot was blocked or removed from the chat"
    except Exception as exc:  # every failure is recorded on the alert and retried later
        error = f"{type(exc).__name__}: {exc}"
    out = Outbox()
    async with unit_of_work(sessionmaker) as repos:
        if error is None:
            assert isinstance(sent, Message)
            told = await uc.alert_redelivered(repos, alert.alert_id, sent.chat.id, sent.message_id, now)
            queue_attachments(out, sent.chat.id, alert.card.number, alert.attachments, group_)
        else:
            log.warning("alert %s to chat %s not delivered: %s", alert.alert_id, alert.chat_id, error)
            told = await uc.alert_undelivered(repos, alert.alert_id, error, now)
    for say in told:
        out.send(say.chat_id, say_text(say, catalogs, tz))
    await notifier.flush(out)
    return error is None
