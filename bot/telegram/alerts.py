"""Duty-group alerts on Telegram. The courier delivers each alert as one tracked delivery: its text (with
the acknowledge button), then each attachment message or album, in order, each part recorded once
Telegram accepted it. The first try starts right after the report is committed, outside the reporter's
turn; whatever is left (a failure, an outage, a crash) is retried from the database, resending only the
parts not accepted. The reporter's receipt is redrawn as the alerts are delivered, or not.
The decisions are the use cases' (bot/usecases/alerts.py)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, tzinfo
from html import escape
from typing import Any

from aiogram.types import (
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    ReplyParameters,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.clock import Clock, utcnow
from bot.telegram.forms import EDITABLE_MAX, NEXT_FORM, receipt_lines, status_lines
from bot.telegram.i18n import Catalogs
from bot.telegram.keyboards import ack_keyboard, receipt_markup
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Notifier, Outbox, Outgoing
from bot.telegram.presenters import alert_text, say_text
from bot.usecases import alerts as uc
from bot.usecases.common import AlertStatus, Card
from bot.usecases.reports import Filed
from conversations.engine import Context, Engine
from conversations.registry import FORMS
from conversations.render import summary_lines
from storage.uow import unit_of_work

log = logging.getLogger(__name__)

MEDIA_METHODS = {"photo": "send_photo", "video": "send_video", "voice": "send_voice", "audio": "send_audio",
                 "video_note": "send_video_note", "animation": "send_animation"}  # fmt: skip
ALBUM_TYPES = {"photo": InputMediaPhoto, "video": InputMediaVideo, "document": InputMediaDocument,
               "audio": InputMediaAudio}  # fmt: skip


ReceiptAt = tuple[int, int | None, str | None]  # where a reporter's receipt is: chat, message, language


class AlertCourier:
    """Posts what a filed report alerts and redraws alerts as acknowledgements arrive (in the groups'
    language); injected into the handlers and run by the retry job."""

    def __init__(
        self,
        catalogs: Catalogs,
        tz: tzinfo,
        sessionmaker: async_sessionmaker[AsyncSession],
        notifier: Notifier,
        clock: Clock = utcnow,
    ) -> None:
        self.catalogs, self.tz, self.sessionmaker, self.notifier = catalogs, tz, sessionmaker, notifier
        self.clock = clock  # the bot's time (Config.clock): when an alert reached its group
        self.group_ = catalogs.translator(catalogs.default_locale)
        self.busy: set[int] = set()  # alerts being delivered by this process right now

    # ---- from a handler, in the update's transaction ------------------------------------------------
    def after_filing(self, filed: Filed, out: Outbox, receipt: ReceiptAt | None = None) -> None:
        """The duty-group alerts go out after the commit, outside the reporter's turn; without a duty group,
        the unit's administrators get the alert by direct message. `receipt`: where the reporter's receipt is
        (chat, message, language), to redraw it once the first tries are over."""
        for admin, unit_name in filed.admins:
            admin_ = self.catalogs.translator(admin.locale or self.catalogs.default_locale)
            assert filed.card is not None
            out.send(
                admin.telegram_id,
                admin_("report.no_group_admin", unit=escape(unit_name))
                + "\n\n"
                + alert_text(filed.card, admin_, self.tz),
                priority=Priority.ALERT,
            )
        for say in filed.tell:  # the named reporter of a phone report: the written report is theirs to file
            tr = self.catalogs.translator(say.locale or self.catalogs.default_locale)
            out.send(
                say.chat_id,
                say_text(say, self.catalogs, self.tz),
                priority=Priority.REMINDER,
                reply_markup=receipt_markup(filed.incident_id, tr, "initial"),
            )
        if filed.alert_ids:
            out.after_commit(lambda: self.first_try(filed.report_id, list(filed.alert_ids), filed, receipt))

    def redraw(self, out: Outbox, chat_id: int, message_id: int, alert_id: int, card: Card) -> None:
        """The alert as it reads now, with everyone who acknowledged it."""
        out.edit(
            chat_id,
            message_id,
            alert_text(card, self.group_, self.tz),
            reply_markup=ack_keyboard(alert_id, self.group_, card.status == "open", card.number),
        )

    # ---- delivering ------------------------------------------------------------------------------
    async def first_try(
        self, report_id: int, alert_ids: list[int], filed: Filed | None = None, receipt: ReceiptAt | None = None
    ) -> None:
        """Right after filing: each alert once; then the receipt says what became of them. The deliveries filing
        planned are sent as planned (nothing read back), and when every try's outcome is known here the receipt
        is redrawn from it; otherwise both are read from the database."""
        planned = {d.alert_id: d for d in filed.deliveries} if filed is not None else {}
        statuses: list[AlertStatus | None] = []
        for alert_id in alert_ids:
            error, status = await self._deliver(alert_id, planned.get(alert_id))
            if error is not None:
                async with unit_of_work(self.sessionmaker) as repos:
                    await uc.first_try_failed(repos, alert_id, error)
            statuses.append(status)
        known = [s for s in statuses if s is not None]
        if filed is not None and filed.answers is not None and receipt is not None and len(known) == len(statuses):
            await self._redraw(_filed_receipt(filed, *receipt, known))
        else:
            await self.update_receipt(report_id)

    async def deliver(self, alert_id: int) -> str | None:
        """Send the parts of an alert Telegram has not accepted, in order, stopping at the first failure;
        returns the failure (None when the alert is delivered, or is being delivered elsewhere)."""
        return (await self._deliver(alert_id))[0]

    async def _deliver(
        self, alert_id: int, delivery: uc.Delivery | None = None
    ) -> tuple[str | None, AlertStatus | None]:
        """deliver(), with what the reporter's receipt should say of it (None when that is not known here)."""
        if alert_id in self.busy:
            return None, None
        self.busy.add(alert_id)
        try:
            if delivery is None:
                async with unit_of_work(self.sessionmaker) as repos:
                    delivery = await uc.pending_delivery(repos, alert_id)
                if delivery is None:
                    return None, None
            title, chat_id = delivery.title, delivery.chat_id
            text_id, sent_at = delivery.text_message_id, None
            for part in delivery.parts:
                try:
                    sent = await self._send(delivery, part, text_id)
                except Exception as exc:  # recorded on the alert and retried later
                    sent, error = None, f"{type(exc).__name__}: {exc}"[:300]
                else:
                    error = "Forbidden: the bot was blocked or removed from the chat"
                first = sent[0] if isinstance(sent, list) and sent else sent
                if not isinstance(first, Message):
                    return error, AlertStatus(title or str(chat_id), "retrying", error=error)
                now = self.clock()
                if part.kind == "text":
                    text_id, sent_at, chat_id = first.message_id, now, first.chat.id  # (a migrated group's new id)
                    title = title or first.chat.title
                async with unit_of_work(self.sessionmaker) as repos:
                    await uc.part_accepted(
                        repos, delivery, part, first.chat.id, first.message_id, now, first.chat.title
                    )
            if sent_at is None or delivery.text_message_id is not None:  # only media parts were left: not a first try
                return None, None
            return None, AlertStatus(title or str(chat_id), "delivered", sent_at)
        finally:
            self.busy.discard(alert_id)

    async def _send(self, delivery: uc.Delivery, part: uc.Part, text_id: int | None) -> Any:
        chat_id = delivery.chat_id
        if part.kind == "text":
            kwargs: dict[str, Any] = {
                "chat_id": chat_id,
                "text": alert_text(delivery.card, self.group_, self.tz),
                "reply_markup": ack_keyboard(
                    delivery.alert_id, self.group_, delivery.card.status == "open", delivery.card.number
                ),
            }
            return await self.notifier.deliver(Outgoing("send_message", kwargs, priority=Priority.ALERT))
        captions = [
            self.group_("alert.attachment", number=delivery.card.number, i=part.first + i, n=part.total)
            for i in range(len(part.items))
        ]
        reply = ReplyParameters(message_id=text_id, allow_sending_without_reply=True) if text_id else None
        if len(part.items) > 1:
            media = [ALBUM_TYPES[k](media=f, caption=c) for (k, f), c in zip(part.items, captions, strict=True)]
            return await self.notifier.send_counted(
                "send_media_group", len(media), chat_id=chat_id, media=media, reply_parameters=reply
            )
        kind, file_id = part.items[0]
        method = MEDIA_METHODS.get(kind, "send_document")
        kwargs = {"chat_id": chat_id, method.removeprefix("send_"): file_id, "reply_parameters": reply}
        if kind != "video_note":
            kwargs["caption"] = captions[0]
        return await self.notifier.deliver(Outgoing(method, kwargs, priority=Priority.ALERT))

    # ---- the retry job ---------------------------------------------------------------------------
    async def retry_due(self, now: datetime, everything: bool = False) -> int:
        """Try again every alert with parts Telegram has not accepted whose retry is due (`everything`: all of
        them, at start, for what a crash cut off); returns how many are now delivered."""
        async with unit_of_work(self.sessionmaker) as repos:
            due = [a for a in await uc.due_alerts(repos, now, everything) if a not in self.busy]
        results = await asyncio.gather(*[self._retry(a, now, everything) for a in due], return_exceptions=True)
        for alert_id, result in zip(due, results, strict=True):
            if isinstance(result, BaseException):
                log.error("alert %s retry failed", alert_id, exc_info=result)
        delivered = sum(1 for result in results if result is True)
        if due:
            log.info("alert retries: %d of %d due alerts delivered", delivered, len(due))
        return delivered

    async def _retry(self, alert_id: int, now: datetime, everything: bool) -> bool:
        """One retry of one alert (alerts to different groups go side by side; the limiter orders them)."""
        async with unit_of_work(self.sessionmaker) as repos:
            if not await uc.claim_alert(repos, alert_id, now, everything):
                return False  # another process took it, or it went out meanwhile
        error = await self.deliver(alert_id)
        async with unit_of_work(self.sessionmaker) as repos:
            if error is None:
                told = await uc.alert_redelivered(repos, alert_id, now)
            else:
                log.warning("alert %s not delivered: %s", alert_id, error)
                told = await uc.alert_undelivered(repos, alert_id, error, now)
            alert = await repos.alerts.alert(alert_id)
            report_id = alert.report_id if alert else None
        out = Outbox()
        for say in told:
            out.send(say.chat_id, say_text(say, self.catalogs, self.tz), priority=Priority.ALERT)
        await self.notifier.flush(out)
        if report_id is not None and (error is None or told):
            await self.update_receipt(report_id)
        return error is None

    async def update_receipt(self, report_id: int) -> None:
        """Redraw the reporter's receipt with what became of the alerts (or say it in a new message)."""
        async with unit_of_work(self.sessionmaker) as repos:
            receipt = await uc.receipt(repos, report_id)
        if receipt is not None:
            await self._redraw(receipt)

    async def _redraw(self, receipt: uc.Receipt) -> None:
        if not receipt.statuses:
            return
        _ = self.catalogs.translator(receipt.locale or self.catalogs.default_locale)
        lines = receipt_lines(
            receipt.number,
            receipt.statuses,
            [],
            receipt.next_due_at,
            receipt.next_due_hours,
            receipt.late,
            receipt.initial_due_at,
            _,
            self.tz,
            receipt.form,
            receipt.seq,
        )
        out = Outbox()
        form = FORMS.get(receipt.form)
        text = None
        if receipt.message_id is not None and form is not None:
            draft = {"answers": receipt.answers, "base": {}, "subject": None}
            summary = summary_lines(Engine(form), draft, Context(self.clock(), self.tz, _))
            text = "\n".join([*lines, "", *summary])
        if text is not None and len(text) <= EDITABLE_MAX:
            markup = (
                receipt_markup(receipt.incident_id, _, NEXT_FORM[receipt.form]) if receipt.form in NEXT_FORM else None
            )
            out.edit(receipt.chat_id, receipt.message_id, text, reply_markup=markup)
        else:
            out.send(receipt.chat_id, "\n".join([receipt.number, *status_lines(receipt.statuses, _, self.tz)]))
        await self.notifier.flush(out)


def _filed_receipt(
    filed: Filed, chat_id: int, message_id: int | None, locale: str | None, statuses: list[AlertStatus]
) -> uc.Receipt:
    """The receipt of a report just filed, from what filing returned (uc.receipt reads the same from the database;
    tests/http/test_delivery_http.py holds the two equal)."""
    assert filed.answers is not None and filed.initial_due_at is not None
    return uc.Receipt(
        chat_id,
        message_id,
        locale,
        filed.number,
        filed.kind,
        filed.answers,
        filed.next_due_at,
        filed.next_due_hours,
        filed.initial_due_at,
        filed.late,
        statuses,
        filed.seq,
        filed.incident_id,
    )
