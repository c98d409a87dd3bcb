"""Duty-group alerts: the acknowledge button."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery

from bot.domain.text import N_
from bot.telegram.alerts import AlertCourier
from bot.telegram.callbacks import AckCb
from bot.telegram.i18n import Translator
from bot.telegram.notifier import Outbox
from bot.usecases.facade import UseCases

ACK_ANSWERS = {"unknown": N_("common.stale_button"), "refused": N_("ack.refused")}


async def on_ack(query: CallbackQuery, callback_data: AckCb, uc: UseCases, _: Translator, out: Outbox,
                 alerts: AlertCourier) -> None:  # fmt: skip
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


def setup() -> Router:
    router = Router(name="alerts")
    router.callback_query.register(on_ack, AckCb.filter())
    return router
