"""The one way out: every message the bot sends goes through the Notifier.

Handlers queue what to send in an Outbox; the unit-of-work middleware flushes it only after the
transaction committed, so the user is never told something the database does not hold.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from aiogram import Bot, methods
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

from bot.domain import jsoncodec
from bot.domain.textsplit import split_text
from bot.telegram import metrics
from bot.telegram.limiter import Priority, SendLimiter
from bot.telegram.session import result_unread

log = logging.getLogger(__name__)

OnSent = Callable[[Message], Awaitable[None]]
OnMigrate = Callable[[int, int], Awaitable[None]]


@dataclass
class Outgoing:
    method: str
    kwargs: dict[str, Any]
    on_sent: OnSent | None = None
    # Kept in the database with the update's transaction until Telegram accepted it, so a crash after the
    # commit, or an outage longer than the notifier's patience, still delivers it later. Not for callback
    # answers (useless late) nor for what has its own redelivery (duty-group alerts and their attachments).
    durable: bool = True
    priority: Priority = Priority.REPLY

    def to_json(self) -> str:
        kwargs = to_jsonable_python(self.kwargs, by_alias=True, exclude_none=True)
        return jsoncodec.dumps({"method": self.method, "kwargs": kwargs, "priority": int(self.priority)})

    @classmethod
    def from_json(cls, text: str) -> Outgoing:
        data = jsoncodec.loads(text)
        return cls(data["method"], data["kwargs"], priority=Priority(data.get("priority", Priority.REPLY)))


@dataclass
class Outbox:
    """Messages an update wants sent, in order, once its transaction has committed."""

    items: list[Outgoing] = field(default_factory=list)
    later: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)  # started after the commit, unlocked

    def send(
        self,
        chat_id: int,
        text: str,
        on_sent: OnSent | None = None,
        priority: Priority = Priority.REPLY,
        **kwargs: Any,
    ) -> None:
        kwargs = {"chat_id": chat_id, "text": text, **kwargs}
        self.items.append(Outgoing("send_message", kwargs, on_sent, durable=on_sent is None, priority=priority))

    def after_commit(self, work: Callable[[], Awaitable[Any]]) -> None:
        """Work to start once the update's transaction committed, outside the sender's lock (alerts)."""
        self.later.append(work)

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

    def answered(self, callback_query_id: str) -> bool:
        """This update already answers the button press (Telegram takes one answer per press)."""
        return any(
            o.method == "answer_callback_query" and o.kwargs.get("callback_query_id") == callback_query_id
            for o in self.items
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


class Unreachable(Exception):
    """The chat cannot receive messages from the bot (blocked, removed, deleted): do not try again."""


# Bad requests that mean the chat is gone for this bot, not that the message was wrong
GONE = ("chat not found", "user is deactivated", "bot was kicked", "peer_id_invalid", "have no rights to send",
        "not enough rights to send", "chat_write_forbidden")  # fmt: skip


class Deferred(Exception):
    """Telegram did not accept the message within our bounds (429 waits over the cap, 5xx or timeouts after
    every retry): it stays stored and is tried again later."""


# Methods that put a new message into a chat count against the chat's, the group's and the overall limits;
# so do edits in a group (an alert redrawn as acknowledgements arrive). Edits of the screen a person just
# tapped in their private chat, and callback answers, are answers to that person, not new messages.
LIMITED_PREFIXES = ("send_", "copy_message", "forward_message")


@cache
def _blank(name: str) -> methods.TelegramMethod[Any]:
    """aiogram's method for a Bot method name (send_message -> SendMessage) with only its defaults set: a call
    is a copy of it with the arguments (pydantic's model_construct resolves every default again, 55 µs a call)."""
    cls = getattr(methods, "".join(word.capitalize() for word in name.split("_")))
    assert isinstance(cls, type) and issubclass(cls, methods.TelegramMethod), name
    return cls.model_construct()


def _call_of(name: str, kwargs: dict[str, Any]) -> methods.TelegramMethod[Any]:
    return _blank(name).model_copy(update=kwargs)


class Notifier:
    """Sends through the limiter with retries: a 429 means wait retry_after and try again (as long as the
    waits stay under `max_wait`, else Deferred); 5xx and network errors (timeouts) retry with backoff;
    group migrations are followed; text that is too long is split. A chat that blocked the bot is logged,
    not retried."""

    def __init__(
        self,
        bot: Bot,
        on_migrate: OnMigrate | None = None,
        limiter: SendLimiter | None = None,
        max_wait: float = 300.0,
        attempts: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self.bot = bot
        self.on_migrate = on_migrate
        self.limiter = limiter
        self.max_wait = max_wait
        self.attempts = attempts
        self.backoff = backoff

    async def flush(self, outbox: Outbox, only: Callable[[Outgoing], bool] | None = None) -> list[Outgoing]:
        """Send what is queued (all, or what `only` selects), in order; one failure never stops the rest.
        Returns what Telegram did not accept."""
        failed = []
        chosen = [item for item in outbox.items if only is None or only(item)]
        outbox.items = [item for item in outbox.items if not (only is None or only(item))]
        for item in chosen:
            try:
                if item.on_sent is None:  # nobody reads what Telegram answers: checked, not parsed
                    with result_unread():
                        await self.deliver(item)
                else:
                    await self.deliver(item)
            except Exception:
                log.exception("could not deliver %s to %s", item.method, item.kwargs.get("chat_id"))
                failed.append(item)
        return failed

    async def deliver(self, item: Outgoing, strict: bool = False) -> Any:
        """Send one message (split when too long: the buttons go under the last part). `strict`: a chat that
        cannot receive raises Unreachable instead of being logged (the broadcaster records it)."""
        if item.method == "send_message" and len(item.kwargs["text"]) > 4000:
            result = None
            chunks = split_text(item.kwargs["text"])
            for i, chunk in enumerate(chunks):
                kwargs = dict(item.kwargs, text=chunk)
                if i < len(chunks) - 1:
                    kwargs.pop("reply_markup", None)
                result = await self._call(item.method, kwargs, item.priority, strict=strict)
            if item.on_sent and isinstance(result, Message):
                await item.on_sent(result)
            return result
        result = await self._call(item.method, item.kwargs, item.priority, strict=strict)
        if item.on_sent and isinstance(result, Message):
            await item.on_sent(result)
        return result

    async def send_counted(self, method: str, cost: int, priority: Priority = Priority.ALERT, **kwargs: Any) -> Any:
        """A call that puts `cost` messages into the chat at once (an album: each item counts)."""
        return await self._call(method, kwargs, priority, cost)

    async def _call(
        self,
        method: str,
        kwargs: dict[str, Any],
        priority: Priority = Priority.REPLY,
        cost: int = 1,
        strict: bool = False,
    ) -> Any:
        delay, waited, failures = self.backoff, 0.0, 0
        while True:
            chat = kwargs.get("chat_id")
            chat_id = chat if isinstance(chat, int) else None
            limited = method.startswith(LIMITED_PREFIXES) or (
                method.startswith("edit_message_") and chat_id is not None and chat_id < 0
            )
            if self.limiter is not None and limited:
                paused = self.limiter.paused_for(chat_id) if waited == 0 else 0.0
                if paused > self.max_wait:  # flood control longer than we may wait: keep it for later
                    raise Deferred(f"{method}: chat {chat} is under flood control for {paused:.0f}s more")
                await self.limiter.acquire(chat_id, priority, cost)
            try:
                # built without pydantic's validation (it cost a model per button): every call here is built by
                # our code or replayed from the outbox as its own JSON, and Telegram checks what it gets
                result = await self.bot(_call_of(method, kwargs))
                metrics.SENDS.labels(priority.name).inc()
                return result
            except TelegramRetryAfter as exc:
                metrics.FLOOD_CONTROL.labels(priority.name).inc()
                wait = float(exc.retry_after)
                if self.limiter is not None and limited:
                    self.limiter.pause(chat_id, wait)  # every send to that chat waits, not just this one
                if waited + wait > self.max_wait:
                    raise Deferred(
                        f"{method}: flood control for {waited + wait:.0f}s, over the {self.max_wait:.0f}s cap"
                    ) from exc
                waited += wait
                log.warning("%s to %s: flood control, retrying after %.1fs", method, chat, wait)
                if self.limiter is None or not limited:
                    await asyncio.sleep(wait)
            except TelegramMigrateToChat as exc:
                old = kwargs.get("chat_id")
                log.warning("chat %s migrated to %s", old, exc.migrate_to_chat_id)
                if self.on_migrate is not None and isinstance(old, int):
                    await self.on_migrate(old, exc.migrate_to_chat_id)
                kwargs = dict(kwargs, chat_id=exc.migrate_to_chat_id)
            except TelegramForbiddenError as exc:
                if strict:
                    raise Unreachable(str(exc)) from exc
                log.warning("%s to %s refused: the bot was blocked or removed", method, kwargs.get("chat_id"))
                return None
            except TelegramBadRequest as exc:
                if "message is not modified" in str(exc) or "query is too old" in str(exc):
                    return None
                if strict and any(gone in str(exc).lower() for gone in GONE):
                    raise Unreachable(str(exc)) from exc
                raise
            except (TelegramServerError, TelegramNetworkError) as exc:
                failures += 1
                if failures >= self.attempts:
                    raise Deferred(f"{method}: {exc} ({failures} tries)") from exc
                log.warning("%s failed (%s), retry %d", method, exc, failures)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 8.0)
