"""Per-update context: one transaction, the user, their language, and an outbox sent after commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiogram.types import User as TgUser
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.locales import resolve_locale
from bot.i18n import Catalogs
from bot.notifier import Notifier, Outbox
from storage.uow import unit_of_work


class UnitOfWorkMiddleware(BaseMiddleware):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], catalogs: Catalogs, notifier: Notifier) -> None:
        self.sessionmaker = sessionmaker
        self.catalogs = catalogs
        self.notifier = notifier

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        tg_user: TgUser | None = data.get("event_from_user")
        outbox = Outbox()
        async with unit_of_work(self.sessionmaker) as repos:
            user = await repos.users.by_telegram_id(tg_user.id) if tg_user else None
            if user is not None and not user.active:
                user = None
            locale = resolve_locale(
                user.locale if user else None,
                tg_user.language_code if tg_user else None,
                self.catalogs.default_locale,
            )
            data.update(repos=repos, user=user, _=self.catalogs.translator(locale), out=outbox)
            result = await handler(event, data)
        # Committed: now tell people.
        await self.notifier.flush(outbox)
        return result
