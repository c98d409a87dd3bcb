"""The one scheduler loop: sleeps until the nearest due row (deadline actions, unacknowledged alerts), woken
early when an update commits a nearer one; claims what is due, stores the messages it decided in the
durable outbox in the same transaction, then sends them through the limiter (reminders at REMINDER
priority, so replies and alerts go first). A crash after the commit leaves the messages in the outbox for
the next start; a crash before it leaves the rows due, so they fire at the next start, once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta, tzinfo
from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.clock import format_local
from bot.domain.text import N_
from bot.telegram.callbacks import OpenCb
from bot.telegram.desk import due_label, summary_text
from bot.telegram.dispatch import clock_message
from bot.telegram.i18n import Catalogs, Translator
from bot.telegram.keyboards import ack_keyboard
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Notifier, Outgoing
from bot.telegram.presenters import alert_text
from bot.telegram.roster import handover_flag, shift_notice
from bot.telegram.warnings import receipt_notice
from bot.usecases.common import Config
from bot.usecases.deadlines import FORM_FOR_DUE
from bot.usecases.desk import fire_daily_summaries, next_daily_summary
from bot.usecases.dispatch import fire_dispatch, next_dispatch_step
from bot.usecases.reminders import CLAIM_BATCH, DueItem, Notice, fire_due, next_due
from bot.usecases.roster import fire_handover_checks, fire_shift_changes, next_handover_check, next_shift_change
from bot.usecases.warnings import ReceiptNotice, fire_receipts, next_receipt_step
from conversations.formatting import format_span
from storage.outbox import OutboxStore
from storage.uow import unit_of_work

log = logging.getLogger(__name__)

MAX_SLEEP = 300.0  # look again at least this often: rows another process added that nobody woke us for
BUTTONS_MAX = 8  # form buttons under one reminder
SEND_EVERY = 2000  # claimed messages held before sending (a huge backlog goes out in waves)
ITEMS_MAX = 30  # reports listed in one reminder or notice (the rest are counted)
TITLES = {"remind": N_("remind.title"), "overdue": N_("overdue.title"), "missed": N_("missed.title")}


def due_text(item: DueItem, _: Translator) -> str:
    """What is due, in the reader's language: 第2次续报, 终报…"""
    return due_label(item.due, item.seq, _)


def _when(item: DueItem, now: datetime, _: Translator, tz: tzinfo) -> str:
    left = (item.due_at - now).total_seconds()
    span = format_span(left, _)
    due = format_local(item.due_at, tz)
    return _("remind.left", due=due, left=span) if left > 0 else _("remind.overdue", due=due, late=span)


def _mentions(notice: Notice) -> str:
    return " ".join(f'<a href="tg://user?id={tid}">{escape(name)}</a>' for tid, name in notice.mention)


def notice_message(notice: Notice, now: datetime, _: Translator, tz: tzinfo) -> Outgoing:
    """A notice as one Telegram message in its reader's language (user text escaped)."""
    if notice.kind == "unacknowledged":
        assert notice.card is not None
        lines = [_("ack.escalate_parent", unit=escape(notice.unit)) if notice.unit else _("ack.escalate")]
        if notice.mention:
            lines.append(_("ack.mention", who=_mentions(notice)))
        text = "\n".join(lines) + "\n\n" + alert_text(notice.card, _, tz)
        markup = ack_keyboard(notice.alert_id or 0, _, notice.card.status == "open", notice.card.number)
        return Outgoing(
            "send_message", {"chat_id": notice.chat_id, "text": text, "reply_markup": markup}, priority=Priority.ALERT
        )
    lines = [_(TITLES[notice.kind])]
    for item in notice.items[:ITEMS_MAX]:
        if notice.kind == "remind":
            lines.append(_("remind.item", number=item.number, due=due_text(item, _), when=_when(item, now, _, tz)))
        else:
            lines.append(
                _(
                    "overdue.item",
                    number=item.number,
                    due=due_text(item, _),
                    when=_when(item, now, _, tz),
                    reporter=escape(item.reporter),
                    unit=escape(item.unit),
                )
            )
    if len(notice.items) > ITEMS_MAX:
        lines.append(_("notice.more", n=len(notice.items) - ITEMS_MAX))
    if notice.mention:
        lines.append(_("ack.mention", who=_mentions(notice)))
    kwargs: dict[str, object] = {"chat_id": notice.chat_id, "text": "\n".join(lines)}
    if notice.kind == "remind":
        rows = [
            [
                InlineKeyboardButton(
                    text=_("remind.open", due=due_text(i, _), number=i.number),
                    callback_data=OpenCb(f=FORM_FOR_DUE[i.due], i=i.incident_id).pack(),
                )
            ]
            for i in notice.items
            if i.due in FORM_FOR_DUE
        ][:BUTTONS_MAX]
        if rows:
            kwargs["reply_markup"] = InlineKeyboardMarkup(inline_keyboard=rows)
    priority = Priority.REMINDER if notice.kind == "remind" else Priority.ALERT
    return Outgoing("send_message", kwargs, priority=priority)


class Scheduler:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        catalogs: Catalogs,
        notifier: Notifier,
        outbox: OutboxStore,
        config: Config,
        max_sleep: float = MAX_SLEEP,
    ) -> None:
        self.sessionmaker, self.catalogs, self.notifier, self.outbox = sessionmaker, catalogs, notifier, outbox
        self.config, self.max_sleep = config, max_sleep
        self._woken = asyncio.Event()
        self._sleeping_until: datetime | None = None
        self.ticks = 0  # passes that found something due (for tests and the benchmark)
        self.batch = CLAIM_BATCH  # rows claimed per transaction

    def wake(self, at: datetime | None = None) -> None:
        """A row due at `at` was committed: look again now if that is sooner than the loop planned."""
        if at is None or self._sleeping_until is None or at < self._sleeping_until:
            self._woken.set()

    async def tick(self, now: datetime | None = None) -> int:
        """Act on everything due by `now`; returns how many messages Telegram accepted. Claims are committed
        batch by batch (each with its messages in the outbox); the messages then go out side by side."""
        sent = 0
        while True:
            moment = now or self.config.clock()
            rows: list[tuple[int, Outgoing]] = []
            more = True
            while more and len(rows) < SEND_EVERY:
                async with unit_of_work(self.sessionmaker) as repos:
                    fired = await fire_due(repos, moment, self.config, self.batch)
                    receipts, more_receipts = await fire_receipts(repos, moment, self.config, self.batch)
                    changes, more_changes = await fire_shift_changes(repos, moment, self.batch)
                    flags, more_flags = await fire_handover_checks(repos, moment, self.batch)
                    summaries = await fire_daily_summaries(repos, moment, self.config)
                    orders, more_orders = await fire_dispatch(repos, moment, self.config.dispatch, self.batch)
                    messages = [self._render(n, moment) for n in fired.notices]
                    messages += [self._render_receipt(n, moment) for n in receipts]
                    default = self.catalogs.translator(self.catalogs.default_locale)
                    messages += [shift_notice(n, default, self.config.tz) for n in changes]
                    messages += [
                        handover_flag(
                            f, self.catalogs.translator(f.locale or self.catalogs.default_locale), self.config.tz
                        )
                        for f in flags
                    ]
                    messages += [
                        Outgoing(
                            "send_message",
                            {"chat_id": d.chat_id, "text": summary_text(d, default)},
                            priority=Priority.REMINDER,
                        )
                        for d in summaries
                    ]
                    messages += [clock_message(n, self._tr(n.locale), self.config.tz) for n in orders]
                    ids = await self.outbox.save(repos.session, [m.to_json() for m in messages])
                rows += zip(ids, messages, strict=True)
                more = fired.more or more_receipts or more_changes or more_flags or more_orders
                if fired.deadlines or fired.alerts or receipts or changes or flags or summaries or orders:
                    self.ticks += 1
            accepted, left = await self._send(rows)
            sent += len(accepted)
            self.outbox.sent(accepted)
            self.outbox.release(left)
            if not more:
                return sent

    async def _send(self, rows: list[tuple[int, Outgoing]]) -> tuple[list[int], list[int]]:
        """Send side by side across chats (the limiter paces them), in order within each chat; returns the
        outbox rows Telegram accepted and those left for the retry job."""
        by_chat: dict[object, list[tuple[int, Outgoing]]] = {}
        for row in rows:
            by_chat.setdefault(row[1].kwargs.get("chat_id"), []).append(row)
        accepted: list[int] = []
        left: list[int] = []

        async def one_chat(items: list[tuple[int, Outgoing]]) -> None:
            for row_id, message in items:
                try:
                    await self.notifier.deliver(message)
                    accepted.append(row_id)
                except Exception:  # it stays in the outbox; the retry job sends it later
                    log.exception("could not send a notice to %s", message.kwargs.get("chat_id"))
                    left.append(row_id)

        await asyncio.gather(*(one_chat(items) for items in by_chat.values()))
        return accepted, left

    def _tr(self, locale: str | None) -> Translator:
        return self.catalogs.translator(locale or self.catalogs.default_locale)

    def _render(self, notice: Notice, now: datetime) -> Outgoing:
        _ = self.catalogs.translator(notice.locale or self.catalogs.default_locale)
        return notice_message(notice, now, _, self.config.tz)

    def _render_receipt(self, notice: ReceiptNotice, now: datetime) -> Outgoing:
        _ = self.catalogs.translator(notice.locale or self.catalogs.default_locale)
        return receipt_notice(notice, _, self.config.tz, now)

    async def next_due(self) -> datetime | None:
        async with unit_of_work(self.sessionmaker) as repos:
            candidates = (
                await next_due(repos),
                await next_receipt_step(repos),
                await next_shift_change(repos),
                await next_handover_check(repos),
                await next_daily_summary(repos, self.config.clock(), self.config),
                await next_dispatch_step(repos),
            )
            times = [t for t in candidates if t is not None]
        return min(times) if times else None

    async def run(self) -> None:
        """Forever: act on what is due, then sleep until the next row (or a wake-up, or MAX_SLEEP)."""
        while True:
            self._woken.clear()  # a wake-up from here on (even during the pass) means: look again
            try:
                await self.tick()
                nearest = await self.next_due()
            except Exception:
                log.exception("scheduler pass failed; trying again shortly")
                nearest = self.config.clock() + timedelta(seconds=5)
            now = self.config.clock()
            limit = now + timedelta(seconds=self.max_sleep)
            self._sleeping_until = min(nearest, limit) if nearest is not None else limit
            delay = max(0.0, (self._sleeping_until - now).total_seconds())
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), timeout=delay)
            self._sleeping_until = None
