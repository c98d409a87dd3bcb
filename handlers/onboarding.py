"""/start with an invite code, and the polite answer to anyone not registered."""

from __future__ import annotations

from html import escape

from aiogram import Bot, F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot.domain.roles import COMMANDS, may_use
from bot.domain.text import N_
from bot.telegram.i18n import Translator
from bot.telegram.notifier import Outbox
from bot.usecases.common import Member as User
from bot.usecases.facade import UseCases
from bot.usecases.onboarding import InviteOutcome
from handlers.common import help_text
from handlers.filters import PRIVATE, Magic

_INVITE_ANSWERS = {
    InviteOutcome.UNKNOWN: N_("start.invite_unknown"),
    InviteOutcome.USED: N_("start.invite_used"),
    InviteOutcome.EXPIRED: N_("start.invite_expired"),
}


async def start_with_code(
    message: Message, command: CommandObject, uc: UseCases, user: User | None, _: Translator, out: Outbox
) -> None:
    """Redeem an invite code from a deep link."""
    assert message.from_user is not None
    code = (command.args or "").strip()
    if user is not None:
        out.send(message.chat.id, _("start.already_registered", name=escape(user.name)))
        return
    if len(code) > 64:
        out.send(message.chat.id, _("start.invite_unknown"))
        return
    result = await uc.redeem_invite(code, message.from_user.id, message.from_user.full_name)
    if result.outcome is InviteOutcome.REGISTERED and result.user and result.unit:
        out.send(
            message.chat.id,
            _("start.registered", name=escape(result.user.name), unit=escape(result.unit.name))
            + "\n\n"
            + help_text(result.user, _),
        )
    else:
        out.send(message.chat.id, _(_INVITE_ANSWERS.get(result.outcome, "start.invite_unknown")))


async def start_plain(message: Message, user: User | None, _: Translator, out: Outbox) -> None:
    """Greet a registered user; tell anyone else how to get access."""
    if user is None:
        out.send(message.chat.id, _("access.unregistered"))
        return
    out.send(message.chat.id, _("start.welcome", name=escape(user.name)) + "\n\n" + help_text(user, _))


async def private_fallback(message: Message, user: User | None, _: Translator, out: Outbox) -> None:
    """Answer anything we do not understand, and anyone not registered, with one clear message."""
    if user is None:
        out.send(message.chat.id, _("access.unregistered"))
        return
    word = (message.text or "").split(maxsplit=1)[0] if message.text else ""
    command = word[1:].split("@")[0].lower() if word.startswith("/") else ""
    if command in COMMANDS and not may_use(command, user.roles):  # a real command, not one of theirs
        out.send(message.chat.id, _("common.not_allowed", command=command))
        return
    out.send(message.chat.id, _("common.not_understood"))


async def group_command(message: Message, user: User | None, _: Translator, out: Outbox, bot: Bot) -> None:
    """A command of ours in a group that is not answered there: a person's or a unit's data go to the private chat
    (bot.domain.roles.IN_GROUPS); anything else in a group is not for the bot and gets no answer."""
    word = (message.text or "").split(maxsplit=1)[0] if message.text else ""
    command, _at, addressee = word[1:].lower().partition("@") if word.startswith("/") else ("", "", "")
    if command not in COMMANDS or (addressee and addressee != ((await bot.me()).username or "").lower()):
        return  # not one of ours, or addressed to another bot in the group
    if user is None:
        out.send(message.chat.id, _("access.unregistered"), reply_to_message_id=message.message_id)
    elif not may_use(command, user.roles):
        out.send(message.chat.id, _("common.not_allowed", command=command), reply_to_message_id=message.message_id)
    else:
        out.send(message.chat.id, _("common.private_only", command=command), reply_to_message_id=message.message_id)


async def edited_message(message: Message, user: User | None, _: Translator, out: Outbox) -> None:
    """Telegram lets people edit sent messages; an edit never changes a stored answer, so say so.
    A live location moving is also an edit: its updates are not answers and get no reply."""
    if message.location is not None:
        return
    out.send(
        message.chat.id,
        _("common.edit_ignored") if user else _("access.unregistered"),
        reply_to_message_id=message.message_id,
    )


async def stale_callback(query: CallbackQuery, user: User | None, _: Translator, out: Outbox) -> None:
    """Buttons of unregistered users, and stale or unknown buttons."""
    text = _("access.unregistered") if user is None else _("common.stale_button")
    out.answer_callback(query.id, text, show_alert=True)


def setup() -> Router:
    router = Router(name="onboarding")
    router.message.filter(PRIVATE)
    router.message.register(start_with_code, CommandStart(deep_link=True))
    router.message.register(start_plain, CommandStart())
    return router


def setup_fallback() -> Router:
    router = Router(name="fallback")
    router.message.register(private_fallback, PRIVATE)
    router.message.register(group_command, ~PRIVATE, Magic(F.text.startswith("/")))
    router.callback_query.register(stale_callback)
    router.edited_message.register(edited_message, PRIVATE)
    return router
