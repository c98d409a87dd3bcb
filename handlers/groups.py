"""Group chats: binding a duty group, and following a group's upgrade to a supergroup."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.domain.roles import Role
from bot.i18n import Translator
from bot.notifier import Outbox
from bot.usecases.onboarding import bind_group
from storage.models import User
from storage.repositories import Repos

GROUP_TYPES = {"group", "supergroup"}


async def cmd_bindgroup(
    message: Message, command: CommandObject, user: User | None, repos: Repos, _: Translator, out: Outbox
) -> None:
    """Make this group the duty group of the admin's unit, or of a unit below it."""
    if user is None or Role.ADMIN not in user.roles:
        out.send(message.chat.id, _("group.bind_refused"), reply_to_message_id=message.message_id)
        return
    unit = await repos.units.get(user.unit_id)
    assert unit is not None
    if command.args:
        target = await repos.units.by_code(command.args.strip())
        if target is None or not await repos.units.is_descendant(target.id, user.unit_id):
            out.send(message.chat.id, _("group.bind_unknown_unit", code=escape(command.args.strip()[:32])))
            return
        unit = target
    await bind_group(repos, f"tg:{user.telegram_id}", message.chat.id, unit, message.chat.title, user.id)
    out.send(message.chat.id, _("group.bound", unit=escape(unit.name)))


async def cmd_bindgroup_private(message: Message, _: Translator, out: Outbox) -> None:
    """The command only makes sense inside the group to bind."""
    out.send(message.chat.id, _("group.bind_in_group"))


async def group_migrated(message: Message, repos: Repos) -> None:
    """A group became a supergroup: keep its duty binding under the new id."""
    assert message.migrate_to_chat_id is not None
    await repos.groups.migrate_chat(message.chat.id, message.migrate_to_chat_id)


def setup() -> Router:
    router = Router(name="groups")
    router.message.register(cmd_bindgroup, Command("bindgroup"), F.chat.type.in_(GROUP_TYPES))
    router.message.register(cmd_bindgroup_private, Command("bindgroup"))
    router.message.register(group_migrated, F.migrate_to_chat_id)
    return router
