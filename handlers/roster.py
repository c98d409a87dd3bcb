"""The duty roster: /duty, and a roster file (CSV or XLSX) sent by an administrator in the private chat."""

from __future__ import annotations

import io

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.domain.roster import MAX_BYTES
from bot.telegram.i18n import Translator
from bot.telegram.notifier import Outbox
from bot.telegram.roster import duty_text, import_text
from bot.usecases.facade import UseCases
from handlers.filters import MayUse

ROSTER_FILES = (".csv", ".xlsx")


async def cmd_duty(message: Message, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/duty: who is on duty now and next, per unit, with phone numbers."""
    board = await uc.duty_board()
    out.send(message.chat.id, duty_text(board, _, uc.config.tz))


async def on_roster_file(message: Message, uc: UseCases, _: Translator, out: Outbox, bot: Bot) -> None:
    """An administrator's roster file: every row checked; nothing stored unless every row is right."""
    document = message.document
    assert document is not None
    if (document.file_size or 0) > MAX_BYTES:
        out.send(message.chat.id, _("roster.error.too_big"))
        return
    buffer = io.BytesIO()
    await bot.download(document, destination=buffer)
    result = await uc.import_roster(buffer.getvalue(), document.file_name or "roster.csv")
    out.send(message.chat.id, import_text(result, _))


def setup() -> Router:
    router = Router(name="roster")
    router.message.register(cmd_duty, Command("duty"), MayUse("duty"))
    roster = F.document.file_name.lower().endswith(ROSTER_FILES)
    router.message.register(on_roster_file, F.chat.type == "private", MayUse("bindgroup"), F.document, roster)
    return router
