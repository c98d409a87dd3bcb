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

It also fetches only what the bot can start on (InFlight): at most `limit` updates at work at once, counting
those that hold their sender's turn (an update waiting for the same person's previous one does not count, so one
person typing faster than their answers can go out never holds up anyone else). Beyond that, updates wait at
Telegram (which keeps them for a day) instead of in memory: on SQLite they would only queue for the one writer's
turn, on PostgreSQL for the pool's connections. Each update in flight holds about 25 kB (aiogram's objects, the
transaction, the answers): 200 at once, when a flood's reports arrive together, were 3.5 MB more than 64.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import GetUpdates

from bot.domain import jsoncodec
from bot.telegram.webhook import sender_of
from storage.inbox import Inbox

_last_answer: ContextVar[Any] = ContextVar("kuaibao_last_answer", default=None)


def loads_keeping(content: str | bytes) -> Any:
    """The Bot API session's JSON decoder; keeps the decoded answer for UpdateRecorder (in the same task)."""
    data = jsoncodec.loads(content)
    _last_answer.set(data)
    return data


class InFlight:
    """How many updates are at work, against a limit: fetched and not yet started (`fetched`, `arrived`), or
    holding their sender's turn (`turn`; waiting for it does not count). PollPacing waits for room (`room`) before
    it fetches more, and asks for no more than that."""

    # what one getUpdates returns at most (the Bot API's own cap)
    BATCH_MAX = 100
    # a fetched update that never reached the middleware (it cannot, short of a bug) stops counting after this
    PENDING_MAX_SECONDS = 60.0

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.working = 0
        self._pending: dict[int, float] = {}  # update id -> when it was fetched (loop time)
        self._freed = asyncio.Event()

    def fetched(self, update_ids: Iterable[int]) -> None:
        now = asyncio.get_running_loop().time()
        self._pending.update((update_id, now) for update_id in update_ids)

    def arrived(self, update_id: int | None) -> None:
        """The update reached the middleware: from here it counts while it holds its sender's turn."""
        if self._pending.pop(update_id, None) is not None:  # type: ignore[arg-type]
            self._freed.set()

    @contextmanager
    def turn(self) -> Iterator[None]:
        self.working += 1
        try:
            yield
        finally:
            self.working -= 1
            self._freed.set()

    async def room(self) -> int:
        """How many more updates may be fetched now (at least one), once fewer than the limit are at work."""
        while self.working + self._count_pending() >= self.limit:
            self._freed.clear()
            with suppress(TimeoutError):  # (then a fetched update that never arrived stops counting)
                await asyncio.wait_for(self._freed.wait(), self.PENDING_MAX_SECONDS)
        return min(self.BATCH_MAX, self.limit - self.working - len(self._pending))

    def _count_pending(self) -> int:
        if self._pending:
            too_old = asyncio.get_running_loop().time() - self.PENDING_MAX_SECONDS
            for update_id in [u for u, at in self._pending.items() if at < too_old]:
                del self._pending[update_id]
        return len(self._pending)


class PollPacing(BaseRequestMiddleware):
    def __init__(self, window: float = 0.02, full_batch: int = 20, in_flight: InFlight | None = None) -> None:
        self.window = window
        self.full_batch = full_batch
        self.in_flight = in_flight
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
        if self.in_flight is not None:
            method.limit = await self.in_flight.room()
        updates = await make_request(bot, method)
        if self.in_flight is not None and updates:
            self.in_flight.fetched(u.update_id for u in updates)
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
    def payloads(updates: list[Any]) -> list[tuple[int, str, int | None]]:
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
            return [(u.update_id, jsoncodec.dumps(r), sender_of(r)) for r, u in zip(raw, updates, strict=True)]
        dumped = [u.model_dump(mode="json", exclude_none=True, by_alias=True) for u in updates]
        return [(u.update_id, jsoncodec.dumps(d), sender_of(d)) for u, d in zip(updates, dumped, strict=True)]
