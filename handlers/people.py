"""People and invites, for an administrator in the private chat: /people, /deactivate, /reactivate, /revoke."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.domain.text import N_
from bot.telegram.i18n import Translator
from bot.telegram.notifier import Outbox
from bot.usecases.facade import UseCases
from handlers.filters import PRIVATE, MayUse

PEOPLE_MAX = 60  # people listed by /people


async def cmd_people(message: Message, uc: UseCases, _: Translator, out: Outbox) -> None:
    """The people this administrator manages, with their user ids (what /deactivate takes)."""
    people = await uc.people()
    lines = [_("people.title")]
    for person, unit in people[:PEOPLE_MAX]:
        state = _("people.active") if person.active else _("people.inactive")
        lines.append(f"<code>{person.telegram_id}</code> · {escape(person.name)} · {escape(unit)} · {state}")
    out.send(message.chat.id, "\n".join(lines))


async def cmd_set_active(message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/deactivate or /reactivate a person by their user id."""
    active = command.command == "reactivate"
    arg = (command.args or "").strip()
    if not arg.isdigit() or len(arg) > 20:
        out.send(message.chat.id, _("people.usage", command=command.command))
        return
    person = await uc.set_active(int(arg), active)
    done = N_("people.reactivated") if active else N_("people.deactivated")
    out.send(message.chat.id, _(done, name=escape(person.name)))


async def cmd_revoke(message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/revoke an unused invite by its code."""
    code = (command.args or "").strip().rsplit("start=", 1)[-1]
    if not code or len(code) > 64:
        out.send(message.chat.id, _("invite.usage"))
        return
    await uc.revoke_invite(code)
    out.send(message.chat.id, _("invite.revoked"))


def setup() -> Router:
    router = Router(name="people")
    router.message.register(cmd_people, Command("people"), PRIVATE, MayUse("people"))
    router.message.register(cmd_set_active, Command("deactivate", "reactivate"), PRIVATE, MayUse("deactivate"))
    router.message.register(cmd_revoke, Command("revoke"), PRIVATE, MayUse("revoke"))
    return router
