"""The one way out: every message the bot sends goes through the Notifier.

Handlers queue what to send in an Outbox; the unit-of-work middleware flushes it only after the
transaction committed, so the user is never told something the database does not hold.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import Message
from pydantic_core import to_jsonable_python

from bot.domain.textsplit import split_text

log = logging.getLogger(__name__)

OnSent = Callable[[Message], Awaitable[None]]
OnMigrate = Callable[[int, int], Awaitable[None]]


@dataclass
class Outgoing:
    method: str
    kwargs: dict[str, Any]
    on_sent: OnSent | None = None
    # Kept in the database with the update's transaction until sent, so a crash after the commit still
    # delivers it at the next start. Not for callback answers (useless late) nor for what has its own
    # redelivery (duty-group alerts and their attachments).
    durable: bool = True

    def to_json(self) -> str:
        kwargs = to_jsonable_python(self.kwargs, by_alias=True, exclude_none=True)
        return json.dumps({"method": self.method, "kwargs": kwargs}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Outgoing:
        data = json.loads(text)
        return cls(data["method"], data["kwargs"])


@dataclass
class Outbox:
    """Messages an update wants sent, in order, once its transaction has committed."""

    items: list[Outgoing] = field(default_factory=list)

    def send(self, chat_id: int, text: str, on_sent: OnSent | None = None, **kwargs: Any) -> None:
        kwargs = {"chat_id": chat_id, "text": text, **kwargs}
        self.items.append(Outgoing("send_message", kwargs, on_sent, durable=on_sent is None))

    def edit(self, chat_id: int, message_id: int, text: str, **kwargs: Any) -> None:
        self.items.append(
            Outgoing("edit_message_text", {"chat_id": chat_id, "message_id": message_id, "text": text, **kwargs})
        )

    def edit_markup(self, chat_id: int, message_id: int, reply_markup: Any = None) -> None:
        self.items.append(
            Outgoing(
                "edit_message_reply_markup",
                {"chat_id": chat_id, "message_id": message_id, "reply_markup": reply_markup},
            )
        )

    def answer_callback(self, callback_query_id: str, text: str | None = None, show_alert: bool = False) -> None:
        self.items.append(
            Outgoing(
                "answer_callback_query",
                {"callback_query_id": callback_query_id, "text": text, "show_alert": show_alert},
                durable=False,
            )
        )

    def call(self, method: str, on_sent: OnSent | None = None, durable: bool = True, **kwargs: Any) -> None:
        """Any other Bot method (send_location, send_photo, copy_message…)."""
        self.items.append(Outgoing(method, kwargs, on_sent, durable=durable and on_sent is None))

    def durable(self) -> list[Outgoing]:
        return [item for item in self.items if item.durable]


class Notifier:
    """Sends with retries: honours 429 retry_after, retries 5xx and network errors, follows group
    migrations, and splits text that is too long. A chat that blocked the bot is logged, not retried."""

    def __init__(
        self, bot: Bot, on_migrate: OnMigrate | None = None, attempts: int = 4, max_wait: float = 60.0
    ) -> None:
        self.bot = bot
        self.on_migrate = on_migrate
        self.attempts = attempts
        self.max_wait = max_wait

    async def flush(self, outbox: Outbox) -> list[Outgoing]:
        """Send everything queued; one failure never stops the rest. Returns what could not be sent."""
        failed = []
        for item in outbox.items:
            try:
                await self.deliver(item)
            except Exception:
                log.exception("could not deliver %s to %s", item.method, item.kwargs.get("chat_id"))
                failed.append(item)
        outbox.items.clear()
        return failed

    async def deliver(self, item: Outgoing) -> Any:
        if item.method == "send_message" and len(item.kwargs["text"]) > 4000:
            result = None
            chunks = split_text(item.kwargs["text"])
            for i, chunk in enumerate(chunks):
                kwargs = dict(item.kwargs, text=chunk)
                if i < len(chunks) - 1:
                    kwargs.pop("reply_markup", None)
                result = await self._call(item.method, kwargs)
            if item.on_sent and isinstance(result, Message):
                await item.on_sent(result)
            return result
        result = await self._call(item.method, item.kwargs)
        if item.on_sent and isinstance(result, Message):
            await item.on_sent(result)
        return result

    async def _call(self, method: str, kwargs: dict[str, Any]) -> Any:
        delay = 0.5
        for attempt in range(1, self.attempts + 1):
            try:
                return await getattr(self.bot, method)(**kwargs)
            except TelegramRetryAfter as exc:
                wait = min(float(exc.retry_after), self.max_wait)
                log.warning("%s: flood control, retrying after %.1fs", method, wait)
                await asyncio.sleep(wait)
            except TelegramMigrateToChat as exc:
                old = kwargs.get("chat_id")
                log.warning("chat %s migrated to %s", old, exc.migrate_to_chat_id)
                if self.on_migrate is not None and isinstance(old, int):
                    await self.on_migrate(old, exc.migrate_to_chat_id)
                kwargs = dict(kwargs, chat_id=exc.migrate_to_chat_id)
            except TelegramForbiddenError:
                log.warning("%s to %s refused: the bot was blocked or removed", method, kwargs.get("chat_id"))
                return None
            except TelegramBadRequest as exc:
                if "message is not modified" in str(exc) or "query is too old" in str(exc):
                    return None
                raise
            except (TelegramServerError, TelegramNetworkError) as exc:
                if attempt == self.attempts:
                    raise
                log.warning("%s failed (%s), retry %d", method, exc, attempt)
                await asyncio.sleep(delay)
                delay *= 2
        raise RuntimeError(f"{method} failed after {self.attempts} attempts")
