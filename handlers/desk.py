"""The duty desk: /status, /overdue, /mine, /incident — one message each, paginated with buttons."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.telegram.callbacks import IncidentDispatchCb, PageCb
from bot.telegram.desk import ledger_text, page_text, pager, timeline_text
from bot.telegram.i18n import Translator
from bot.telegram.notifier import Outbox
from bot.usecases.facade import UseCases
from handlers.filters import MayUse

LISTS = ("status", "overdue", "mine")


async def cmd_list(message: Message, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/status, /overdue, /mine: the first page."""
    kind = (message.text or "").split()[0].lstrip("/").split("@")[0]
    page = await uc.desk_page(kind, 0)
    out.send(message.chat.id, page_text(page, uc.config.clock(), _, uc.config.tz), reply_markup=pager(page, _))


async def on_page(query: CallbackQuery, callback_data: PageCb, uc: UseCases, _: Translator, out: Outbox) -> None:
    """Another page, drawn in place (as it is now: the list may have changed since)."""
    if callback_data.q not in LISTS or query.message is None or uc.user is None:
        out.answer_callback(query.id)
        return
    page = await uc.desk_page(callback_data.q, callback_data.p)  # (a refusal is the press's popup)
    out.answer_callback(query.id)
    out.edit(
        query.message.chat.id,
        query.message.message_id,
        page_text(page, uc.config.clock(), _, uc.config.tz),
        reply_markup=pager(page, _),
    )


async def cmd_incident(message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/incident KB-…: the timeline and the figures now."""
    number = (command.args or "").strip()
    if not number:
        out.send(message.chat.id, _("desk.incident_usage"))
        return
    found = await uc.incident_timeline(number)
    text = timeline_text(found, uc.config.clock(), _, uc.config.tz)
    incident = str(found.incident["number"])
    if found.incident["status"] != "closed" and await uc.may_dispatch(incident):  # 🚨 联动派单
        button = InlineKeyboardButton(text=_("button.dispatch"), callback_data=IncidentDispatchCb(n=incident).pack())
        markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
        out.send(message.chat.id, text, reply_markup=markup)
        return
    out.send(message.chat.id, text)


async def cmd_ledger(message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/ledger [today|yesterday|YYYY-MM-DD]: the duty ledger of that day."""
    found = await uc.ledger(command.args or "")
    if found is None:
        out.send(message.chat.id, _("ledger.usage"))
        return
    out.send(message.chat.id, ledger_text(found, _, uc.config.tz))


def setup() -> Router:
    router = Router(name="desk")
    for kind in LISTS:
        router.message.register(cmd_list, Command(kind), MayUse(kind))
    router.message.register(cmd_incident, Command("incident"), MayUse("incident"))
    router.message.register(cmd_ledger, Command("ledger"), MayUse("ledger"))
    router.callback_query.register(on_page, PageCb.filter(), MayUse("status"))
    return router
