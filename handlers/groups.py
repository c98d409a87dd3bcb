"""Group chats: binding a duty group, and following a group's upgrade to a supergroup."""

from __future__ import annotations

from html import escape

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.telegram.i18n import Translator
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Outbox
from bot.usecases.facade import UseCases
from handlers.filters import Magic

GROUP_TYPES = {"group", "supergroup"}
CHAT_ADMINS = {"creator", "administrator"}  # getChatMember statuses of a Telegram group's administrators


async def cmd_bindgroup(
    message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox, bot: Bot
) -> None:
    """Make this group the duty group of the admin's unit, or of a unit below it."""
    code = (command.args or "").strip() or None
    chat_admin = False
    if uc.user is not None and message.from_user is not None:  # a stranger costs no call to Telegram
        member = await bot.get_chat_member(message.chat.id, message.from_user.id)
        chat_admin = member.status in CHAT_ADMINS
    result = await uc.bind_group_here(message.chat.id, message.chat.title, code, chat_admin)
    reply = {"reply_to_message_id": message.message_id}
    if result.outcome == "refused":
        out.send(message.chat.id, _("group.bind_refused"), **reply)
    elif result.outcome == "unknown_unit":
        out.send(message.chat.id, _("group.bind_unknown_unit", code=escape((code or "")[:32])), **reply)
    elif result.outcome == "not_chat_admin":
        out.send(message.chat.id, _("group.bind_not_chat_admin"), **reply)
    elif result.outcome == "taken":
        unit = escape(result.unit.name if result.unit else "")
        out.send(message.chat.id, _("group.bind_taken", unit=unit), **reply)
    else:
        assert result.unit is not None
        out.send(message.chat.id, _("group.bound", unit=escape(result.unit.name)))
        for say in result.told:
            tr = _.for_locale(say.locale or uc.config.default_locale)
            out.send(
                say.chat_id,
                tr(say.msgid, **{k: escape(str(v)) for k, v in say.params.items()}),
                priority=Priority.ALERT,
            )


async def cmd_bindgroup_private(message: Message, _: Translator, out: Outbox) -> None:
    """The command only makes sense inside the group to bind."""
    out.send(message.chat.id, _("group.bind_in_group"))


async def group_migrated(message: Message, uc: UseCases) -> None:
    """A group became a supergroup: keep its duty binding under the new id."""
    assert message.migrate_to_chat_id is not None
    await uc.group_migrated(message.chat.id, message.migrate_to_chat_id)


def setup() -> Router:
    router = Router(name="groups")
    router.message.register(cmd_bindgroup, Command("bindgroup"), Magic(F.chat.type.in_(GROUP_TYPES)))
    router.message.register(cmd_bindgroup_private, Command("bindgroup"))
    router.message.register(group_migrated, Magic(F.migrate_to_chat_id))
    return router
