"""Long polling, made durable and paced: two request middlewares on the Bot API session.

UpdateRecorder stores every fetched batch in the update inbox (storage/inbox.py) before aiogram sees it,
so before the next getUpdates tells Telegram the batch arrived. It stores the updates as Telegram sent them
(the session's decoder, `loads_keeping`, keeps the decoded answer for it), not re-encoded from aiogram's
objects, which cost a pydantic serialisation per update.

PollPacing lets a busy moment's updates arrive together. aiogram asks for updates again as soon as a
batch is handed out. Under load that is one getUpdates round trip (HTTP, JSON, validation) per update;
waiting a few milliseconds after a small, non-empty batch lets the next ones gather, so one call fetches
many. An idle bot is not slowed: after an empty answer (the long poll ran out) it polls again at once,
and the wait is never more than `window`.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import GetUpdates

from bot.domain import jsoncodec
from storage.inbox import Inbox

_last_answer: ContextVar[Any] = ContextVar("kuaibao_last_answer", default=None)


def loads_keeping(content: str | bytes) -> Any:
    """The Bot API session's JSON decoder; keeps the decoded answer for UpdateRecorder (in the same task)."""
    data = jsoncodec.loads(content)
    _last_answer.set(data)
    return data


class PollPacing(BaseRequestMiddleware):
    def __init__(self, window: float = 0.02, full_batch: int = 20) -> None:
        self.window = window
        self.full_batch = full_batch
        self._last_at = 0.0
        self._last_size = 0

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Any, method: Any) -> Any:
        if not isinstance(method, GetUpdates):
            return await make_request(bot, method)
        loop = asyncio.get_running_loop()
        if 0 < self._last_size < self.full_batch:
            wait = self.window - (loop.time() - self._last_at)
            if wait > 0:
                await asyncio.sleep(wait)
        updates = await make_request(bot, method)
        self._last_at, self._last_size = loop.time(), len(updates)
        return updates


class UpdateRecorder(BaseRequestMiddleware):
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Any, method: Any) -> Any:
        result = await make_request(bot, method)
        if isinstance(method, GetUpdates) and result:
            # if this fails, aiogram retries getUpdates with the same offset: nothing is confirmed, nothing lost
            await self.inbox.record(self.payloads(result))
        return result

    @staticmethod
    def payloads(updates: list[Any]) -> list[tuple[int, str]]:
        answer = _last_answer.get()
        # forgotten once read: every handler task aiogram starts next copies this context, and each would keep
        # the whole decoded batch alive until it ends
        _last_answer.set(None)
        raw = answer.get("result") if isinstance(answer, dict) else None
        if (
            isinstance(raw, list)
            and len(raw) == len(updates)
            and all(
                isinstance(r, dict) and r.get("update_id") == u.update_id for r, u in zip(raw, updates, strict=True)
            )
        ):
            return [(u.update_id, jsoncodec.dumps(r)) for r, u in zip(raw, updates, strict=True)]
        return [(u.update_id, u.model_dump_json(exclude_none=True, by_alias=True)) for u in updates]
