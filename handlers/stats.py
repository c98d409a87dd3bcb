"""/stats [period] — the figures and a chart; /export [period] [xlsx|csv] — the file, prepared in the background."""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot.domain.stats import PeriodError, period_of
from bot.domain.text import N_
from bot.telegram.charts import render_chart
from bot.telegram.i18n import Translator
from bot.telegram.notifier import Outbox
from bot.telegram.stats import Exporter, chart_data, period_text, stats_text
from bot.usecases.facade import UseCases
from handlers.filters import MayUse

PERIOD_ERRORS = {
    "unreadable": N_("stats.usage"),
    "range": N_("stats.error.range"),
    "order": N_("stats.error.order"),
    "too_long": N_("stats.error.too_long"),
}
FORMAT_WORDS = {"xlsx": "xlsx", "excel": "xlsx", "csv": "csv"}


async def cmd_stats(message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox) -> None:
    try:
        period = period_of((command.args or "")[:60], uc.config.clock(), uc.config.tz)
    except PeriodError as exc:
        out.send(message.chat.id, _(PERIOD_ERRORS[exc.reason]))
        return
    found = await uc.stats(period)
    out.send(message.chat.id, stats_text(found, _))
    if found.total.incidents or found.units:
        png = await asyncio.to_thread(render_chart, chart_data(found, _))  # CPU work off the event loop
        out.call(
            "send_photo", durable=False, chat_id=message.chat.id, photo=BufferedInputFile(png, filename="stats.png")
        )


async def cmd_export(
    message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox, exports: Exporter
) -> None:
    assert uc.user is not None
    words = (command.args or "").strip().lower().split()
    fmt = "xlsx"
    if words and words[-1] in FORMAT_WORDS:
        fmt = FORMAT_WORDS[words.pop()]
    try:
        period = period_of(" ".join(words)[:60], uc.config.clock(), uc.config.tz)
    except PeriodError as exc:
        out.send(message.chat.id, _("export.usage") if exc.reason == "unreadable" else _(PERIOD_ERRORS[exc.reason]))
        return
    user = uc.user
    if exports.busy(user.id):
        out.send(message.chat.id, _("export.busy"))
        return
    await uc.record_export(period, fmt, "chat")
    exports.start(user.id)
    out.send(message.chat.id, _("export.started", period=period_text(period, _), format=fmt.upper()))
    chat_id, unit_id, locale = message.chat.id, user.unit_id, _.locale
    out.after_commit(lambda: exports.run(user.id, chat_id, unit_id, period, fmt, locale))


def setup() -> Router:
    router = Router(name="stats")
    router.message.register(cmd_stats, Command("stats"), MayUse("stats"))
    router.message.register(cmd_export, Command("export"), MayUse("export"))
    return router
