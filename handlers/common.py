"""/help, /lang and /cancel for registered users."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.domain.roles import COMMAND_HELP, ROLE_NAMES, Role, allowed_commands
from bot.domain.text import N_
from bot.telegram.callbacks import LangCb
from bot.telegram.i18n import Translator
from bot.telegram.keyboards import languages
from bot.telegram.notifier import Outbox
from bot.usecases.common import Member
from bot.usecases.facade import UseCases
from handlers.filters import PRIVATE, Registered


def help_text(user: Member, _: Translator) -> str:
    roles = ", ".join(_(ROLE_NAMES[Role(r)]) for r in sorted(user.roles))
    lines = [_("help.title", roles=roles)]
    lines += [f"/{cmd} — {_(COMMAND_HELP[cmd])}" for cmd in allowed_commands(user.roles)]
    return "\n".join(lines)


async def cmd_help(message: Message, user: Member, _: Translator, out: Outbox) -> None:
    """List the commands this user's roles allow."""
    out.send(message.chat.id, help_text(user, _))


async def cmd_lang(message: Message, _: Translator, out: Outbox) -> None:
    """Offer the languages."""
    out.send(message.chat.id, _("lang.choose"), reply_markup=languages())


async def choose_lang(query: CallbackQuery, callback_data: LangCb, uc: UseCases, _: Translator, out: Outbox) -> None:
    """Store the chosen language and confirm in it."""
    if not await uc.set_locale(callback_data.locale):
        out.answer_callback(query.id, _("common.stale_button"), show_alert=True)
        return
    out.answer_callback(query.id)
    if query.message is not None:
        out.edit(query.message.chat.id, query.message.message_id, _.for_locale(callback_data.locale)(N_("lang.saved")))


async def cmd_cancel(message: Message, state: FSMContext, _: Translator, out: Outbox) -> None:
    """Nothing in progress to cancel (forms handle their own /cancel)."""
    await state.clear()
    out.send(message.chat.id, _("common.nothing_to_cancel"))


def setup() -> Router:
    router = Router(name="common")
    router.message.filter(Registered())
    router.callback_query.filter(Registered())
    router.message.register(cmd_help, Command("help"))
    router.message.register(cmd_lang, Command("lang"))
    router.callback_query.register(choose_lang, LangCb.filter())
    router.message.register(cmd_cancel, Command("cancel"), PRIVATE)
    return router
