"""Filters shared by the routers."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from bot.domain.roles import may_use
from bot.usecases.common import Member as User


class Registered(Filter):
    """The sender is a registered, active user."""

    async def __call__(self, event: TelegramObject, user: User | None = None, **_: Any) -> bool:
        return user is not None


class MayUse(Filter):
    """The sender's roles allow this command."""

    def __init__(self, command: str) -> None:
        self.command = command

    async def __call__(self, event: TelegramObject, user: User | None = None, **_: Any) -> bool:
        return user is not None and may_use(self.command, user.roles)
