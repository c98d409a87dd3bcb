"""Filters shared by the routers."""

from __future__ import annotations

from typing import Any

from aiogram import F
from aiogram.filters import Filter
from aiogram.types import TelegramObject
from magic_filter import MagicFilter

from bot.domain.roles import may_use
from bot.usecases.common import Member as User


class Registered(Filter):
    """The sender is a registered, active user."""

    async def __call__(self, event: TelegramObject, user: User | None = None, **_: Any) -> bool:
        return user is not None


def in_private(event: TelegramObject) -> bool:
    """The event happened in the private chat with the bot (a button: on a message there)."""
    chat = getattr(event, "chat", None)
    if chat is None:
        message = getattr(event, "message", None)
        chat = getattr(message, "chat", None)
    return chat is not None and chat.type == "private"


class MayUse(Filter):
    """The sender's roles allow this command, in this kind of chat (bot.domain.roles.IN_GROUPS)."""

    def __init__(self, command: str, anywhere: bool = False) -> None:
        self.command = command
        self.anywhere = anywhere  # the roles only (a handler that answers "use it in the private chat")

    async def __call__(self, event: TelegramObject, user: User | None = None, **_: Any) -> bool:
        return user is not None and may_use(self.command, user.roles, self.anywhere or in_private(event))


class Magic(Filter):
    """A magic filter (`F.…`) checked in place.

    aiogram 3 runs every filter that is not a coroutine function in a worker thread (asyncio.to_thread),
    a magic filter's `resolve` included: a thread hand-off for a comparison, several per update.
    """

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject, **_: Any) -> Any:
        return self.magic.resolve(event)


PRIVATE = Magic(F.chat.type == "private")
