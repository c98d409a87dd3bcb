"""Duty-group alerts: acknowledge, mark the incident handled; reopen a closed incident."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.domain.clock import format_local
from bot.domain.text import N_
from bot.telegram.alerts import AlertCourier
from bot.telegram.callbacks import AckCb, HandledCb
from bot.telegram.i18n import Translator
from bot.telegram.keyboards import receipt_markup
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Outbox
from bot.usecases.facade import UseCases
from handlers.filters import PRIVATE, MayUse, Registered

ACK_ANSWERS = {"unknown": N_("common.stale_button"), "refused": N_("ack.refused")}
HANDLED_ANSWERS = {"unknown": N_("common.stale_button"), "refused": N_("handled.refused")}


async def on_ack(
    query: CallbackQuery, callback_data: AckCb, uc: UseCases, _: Translator, out: Outbox, alerts: AlertCourier
) -> None:
    """A duty officer acknowledges an alert; the alert shows who and when."""
    result = await uc.acknowledge(callback_data.alert)
    if result.outcome in ACK_ANSWERS:
        out.answer_callback(query.id, _(ACK_ANSWERS[result.outcome]), show_alert=True)
        return
    if result.outcome == "already":
        out.answer_callback(query.id, _("ack.already"))
        return
    out.answer_callback(query.id, _("ack.done"))
    if query.message is not None and result.card is not None:
        alerts.redraw(out, query.message.chat.id, query.message.message_id, callback_data.alert, result.card)


async def on_handled(
    query: CallbackQuery, callback_data: HandledCb, uc: UseCases, _: Translator, out: Outbox, alerts: AlertCourier
) -> None:
    """Duty staff mark the incident handled: the alert says so, the reporter is told the final report is due."""
    result = await uc.mark_handled(callback_data.alert)
    if result.outcome in HANDLED_ANSWERS:
        out.answer_callback(query.id, _(HANDLED_ANSWERS[result.outcome]), show_alert=True)
        return
    out.answer_callback(query.id, _("handled.already") if result.outcome == "already" else _("handled.done"))
    if query.message is not None and result.card is not None:
        alerts.redraw(out, query.message.chat.id, query.message.message_id, callback_data.alert, result.card)
    if result.outcome == "ok" and result.reporter is not None:
        tr = _.for_locale(result.reporter.locale or uc.config.default_locale)
        due = format_local(result.final_due_at, uc.config.tz) if result.final_due_at else "-"
        out.send(
            result.reporter.telegram_id,
            tr("handled.reporter", number=result.number, by=escape(result.by), due=due),
            reply_markup=receipt_markup(result.incident_id, tr, "final"),
        )


async def reopen(message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/reopen KB-… reason: a duty leader reopens a closed incident; its duty group is told."""
    number, _sep, reason = (command.args or "").strip().partition(" ")
    if not number:
        out.send(message.chat.id, _("reopen.usage"))
        return
    done = await uc.reopen(number, reason)
    out.send(message.chat.id, _("reopen.done", number=done.number))
    if done.group_chat_id is not None and done.group_chat_id != message.chat.id:
        group_ = _.for_locale(uc.config.default_locale)
        by = escape(uc.user.name if uc.user else "")
        text = group_("reopen.group", number=done.number, reason=escape(done.reason), by=by)
        out.send(done.group_chat_id, text, priority=Priority.ALERT)


def setup() -> Router:
    router = Router(name="alerts")
    router.callback_query.register(on_ack, AckCb.filter())
    router.callback_query.register(on_handled, HandledCb.filter())
    router.message.register(reopen, Command("reopen"), MayUse("reopen"))
    router.message.register(not_allowed_here, Command("reopen"), PRIVATE, Registered())
    return router


async def not_allowed_here(message: Message, _: Translator, out: Outbox) -> None:
    """A registered user who may not reopen incidents."""
    out.send(message.chat.id, _("reopen.refused"))
