"""The duty roster: /duty, and a roster file (CSV or XLSX) sent by an administrator in the private chat."""

from __future__ import annotations

import io
from html import escape

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.domain.clock import format_local
from bot.domain.roster import size_text
from bot.telegram.callbacks import HandoverCb
from bot.telegram.i18n import Translator
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Outbox
from bot.telegram.roster import duty_text, handover_markup, handover_text, import_text
from bot.usecases.facade import UseCases
from handlers.filters import PRIVATE, Magic, MayUse, Registered

ROSTER_FILES = (".csv", ".xlsx")


async def cmd_duty(message: Message, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/duty: who is on duty now and next, per unit, with phone numbers."""
    board = await uc.duty_board()
    out.send(message.chat.id, duty_text(board, _, uc.config.tz))


async def on_roster_file(message: Message, uc: UseCases, _: Translator, out: Outbox, bot: Bot) -> None:
    """An administrator's roster file: every row checked; nothing stored unless every row is right."""
    document = message.document
    assert document is not None
    limit = uc.config.table_limits.max_bytes
    if (document.file_size or 0) > limit:  # refused before a byte is downloaded
        out.send(message.chat.id, _("roster.error.too_big", limit=size_text(limit)))
        return
    buffer = io.BytesIO()
    await bot.download(document, destination=buffer)
    result = await uc.import_roster(buffer.getvalue(), document.file_name or "roster.csv")
    out.send(message.chat.id, import_text(result, _))


async def cmd_handover(message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/handover [note]: the outgoing officer's handover, composed from the data, to the duty group and to the
    incoming officers, with the 接班确认 button."""
    made = await uc.compose_handover(command.args or "")
    tz = uc.config.tz
    markup = handover_markup(made.handover.id, _)
    group_ = _.for_locale(uc.config.default_locale)
    if made.group_chat_id is not None:
        out.send(
            made.group_chat_id,
            handover_text(made, group_, tz),
            reply_markup=handover_markup(made.handover.id, group_),
            priority=Priority.ALERT,
        )
    for person in made.incoming:
        tr = _.for_locale(person.locale or uc.config.default_locale)
        out.send(
            person.telegram_id,
            handover_text(made, tr, tz),
            reply_markup=handover_markup(made.handover.id, tr),
            priority=Priority.ALERT,
        )
    told = made.group_chat_id is not None or made.incoming
    if message.chat.id != made.group_chat_id:
        out.send(message.chat.id, handover_text(made, _, tz), reply_markup=None if told else markup)
    out.send(message.chat.id, _("handover.sent") if told else _("handover.sent_here"))


async def on_accept(query: CallbackQuery, callback_data: HandoverCb, uc: UseCases, _: Translator, out: Outbox) -> None:
    """接班确认: recorded once, by an officer of the unit (or above) other than the one handing over."""
    code, handover = await uc.accept_handover(callback_data.h)
    out.answer_callback(query.id, _(code), show_alert=code != "handover.accepted")
    if code == "handover.accepted" and query.message is not None and handover is not None:
        out.edit_markup(query.message.chat.id, query.message.message_id, None)
        who = uc.user.name if uc.user else ""
        when = format_local(handover.accepted_at or uc.config.clock(), uc.config.tz)
        out.send(query.message.chat.id, _("handover.accepted_by", who=escape(who), time=when))


def setup() -> Router:
    router = Router(name="roster")
    router.message.register(cmd_duty, Command("duty"), MayUse("duty"))
    router.message.register(cmd_handover, Command("handover"), MayUse("handover"))
    router.callback_query.register(on_accept, HandoverCb.filter(), Registered())
    roster = Magic(F.document & F.document.file_name.lower().endswith(ROSTER_FILES))
    router.message.register(on_roster_file, PRIVATE, MayUse("bindgroup"), roster)
    return router
