"""One proactive limiter that every message to Telegram goes through, so the platform's limits are kept
before Telegram has to say 429: overall, per chat, and per group, with priorities.

- overall: at most 30 messages in any second, counted exactly over a sliding window (a leaky bucket's burst
  would let up to twice that into one second);
- per chat: a leaky bucket (aiolimiter), 1/s on average to one chat with a short burst allowed (a step that
  closes a keyboard sends two messages);
- per group: at most N messages in any window of P seconds (20 per minute), counted exactly over a sliding
  window, because a leaky bucket's burst would let a group receive more than N in one minute.

When several sends wait, the most urgent that may go, goes first: replies to the person who just acted,
then duty-group alerts, then reminders, then bulk (early-warning broadcasts). A waiter blocked by its own
chat's limit never holds back others. After a 429 the chat (or everything, for a global 429) pauses for
Telegram's retry_after.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum

from aiolimiter import AsyncLimiter


class Priority(IntEnum):
    REPLY = 0
    ALERT = 1
    REMINDER = 2
    BULK = 3


CHAT_BUCKETS = 1024  # per-chat buckets kept before the idle ones are dropped (about 0.5 kB each); a bucket
# is idle again within chat_burst / chat_per_second seconds (3 s by default), so at Telegram's 30 messages/s
# fewer than a hundred are ever busy at once


@dataclass(frozen=True)
class Limits:
    overall_per_second: float = 30.0
    chat_per_second: float = 1.0
    chat_burst: int = 3
    group_messages: int = 20
    group_period: float = 60.0


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    chat_id: int | None = field(compare=False)
    cost: int = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


class SlidingWindow:
    """At most `limit` events in any `period` seconds. A send is counted when it leaves, and Telegram counts
    it when it arrives, a little later and not always in the same order: the window is kept 5% longer so
    the two never disagree."""

    def __init__(self, limit: int, period: float, pad: float = 0.05) -> None:
        self.limit, self.period = limit, period * (1 + pad)
        self.times: deque[float] = deque()

    def _drop(self, now: float) -> None:
        while self.times and self.times[0] <= now - self.period:
            self.times.popleft()

    def wait_for(self, cost: int, now: float) -> float:
        """Seconds until `cost` more events fit (0 when they fit now)."""
        self._drop(now)
        cost = min(cost, self.limit)
        over = len(self.times) + cost - self.limit
        return 0.0 if over <= 0 else self.times[over - 1] + self.period - now

    def take(self, cost: int, now: float) -> None:
        self.times.extend([now] * cost)


class SendLimiter:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        # overall: counted exactly over a sliding second too (a leaky bucket's burst would let twice the rate
        # into one second: measured as 429s from a server that counts the way Telegram's limit reads)
        rate = self.limits.overall_per_second
        per_window = max(1, round(rate))
        self.overall = SlidingWindow(per_window, per_window / rate, pad=0.04)
        # …and paced: a bucket holding a tenth of a second's worth, so a full second's allowance is not spent
        # in one burst followed by a stop (measured: stop-and-go lost a third of the rate)
        self.pace = AsyncLimiter(max(1.0, rate / 10), 0.1 if rate >= 10 else 1.0 / rate * max(1.0, rate / 10))
        self.chats: dict[int, AsyncLimiter] = {}
        self._sweep_at = CHAT_BUCKETS  # the number of buckets at which the idle ones are looked for again
        self.groups: dict[int, SlidingWindow] = {}
        self.paused_until: dict[int | None, float] = {}  # None: every chat (a global 429)
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _chat(self, chat_id: int) -> AsyncLimiter:
        limiter = self.chats.get(chat_id)
        if limiter is None:
            if len(self.chats) >= self._sweep_at:
                self._forget_idle_chats()
            burst = self.limits.chat_burst
            limiter = self.chats[chat_id] = AsyncLimiter(burst, burst / self.limits.chat_per_second)
        return limiter

    def _forget_idle_chats(self) -> None:
        """Drop the buckets that are full again (a chat quiet for a while): a new one is the same."""
        burst = self.limits.chat_burst
        for chat_id in [c for c, limiter in self.chats.items() if limiter.has_capacity(burst)]:
            del self.chats[chat_id]
        # when most are busy (sends faster than Telegram allows), look again only once they have doubled:
        # a sweep per new chat would cost a pass over all of them each time
        self._sweep_at = max(CHAT_BUCKETS, 2 * len(self.chats))

    def _group(self, chat_id: int) -> SlidingWindow:
        window = self.groups.get(chat_id)
        if window is None:
            window = self.groups[chat_id] = SlidingWindow(self.limits.group_messages, self.limits.group_period)
        return window

    async def acquire(self, chat_id: int | None, priority: Priority = Priority.REPLY, cost: int = 1) -> None:
        """Wait until `cost` messages (an album counts each item) may go to `chat_id`."""
        loop = asyncio.get_running_loop()
        if (
            priority == Priority.REPLY
            and not self._waiters
            and await self._take_now(chat_id, max(1, cost), loop.time())
        ):
            return  # the most urgent kind, nobody waits, every limit has room: no queue, no pacing-task wake-up
        waiter = _Waiter(int(priority), next(self._seq), chat_id, max(1, cost), loop.create_future())
        heapq.heappush(self._waiters, waiter)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        self._kick.set()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                heapq.heapify(self._waiters)
            raise

    async def _take_now(self, chat_id: int | None, cost: int, now: float) -> bool:
        """Take the room for a send at once if every limit has it (the same checks as the pacing task; the
        buckets' acquire does not wait when they have room)."""
        if self._delay(chat_id, cost, now) > 0:
            return False
        overall = min(cost, self.overall.limit)
        paced = min(overall, int(self.pace.max_rate))
        if self.overall.wait_for(overall, now) > 0 or not self.pace.has_capacity(paced):
            return False
        await self.pace.acquire(paced)
        self.overall.take(overall, now)
        if chat_id is not None:
            await self._chat(chat_id).acquire(min(cost, self.limits.chat_burst))
            if chat_id < 0:
                self._group(chat_id).take(cost, now)
        return True

    def pause(self, chat_id: int | None, seconds: float) -> None:
        """Telegram said 429: nothing more to this chat (None: to any chat) for `seconds`."""
        until = asyncio.get_running_loop().time() + seconds
        self.paused_until[chat_id] = max(self.paused_until.get(chat_id, 0.0), until)

    def paused_for(self, chat_id: int | None) -> float:
        """Seconds this chat (or every chat) must still wait after a 429."""
        now = asyncio.get_running_loop().time()
        return max(self.paused_until.get(None, 0.0), self.paused_until.get(chat_id, 0.0)) - now

    def _delay(self, chat_id: int | None, cost: int, now: float) -> float:
        """Seconds until `cost` sends may go to this chat, by its chat's and group's limits (0: now)."""
        delay = max(self.paused_until.get(None, 0.0), self.paused_until.get(chat_id, 0.0)) - now
        if chat_id is None:
            return max(delay, 0.0)
        chat = self._chat(chat_id)
        burst_cost = min(cost, self.limits.chat_burst)
        if not chat.has_capacity(burst_cost):
            delay = max(delay, burst_cost * chat.time_period / chat.max_rate / 2)
        if chat_id < 0:
            delay = max(delay, self._group(chat_id).wait_for(cost, now))
        return max(delay, 0.0)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiters:
            self._kick.clear()
            now = loop.time()
            sleep = 1.0
            for w in sorted(self._waiters):
                if w.future.done():
                    self._waiters.remove(w)
                    continue
                delay = self._delay(w.chat_id, w.cost, now)
                if delay > 0:
                    sleep = min(sleep, delay)
                    continue
                cost = min(w.cost, self.overall.limit)
                paced = min(cost, int(self.pace.max_rate))
                wait = self.overall.wait_for(cost, now)
                if wait <= 0 and not self.pace.has_capacity(paced):
                    wait = paced / self.limits.overall_per_second / 2
                if wait > 0:  # the overall limit: nobody less urgent may pass
                    sleep = min(sleep, wait)
                    break
                await self.pace.acquire(paced)
                self.overall.take(cost, now)
                if w.chat_id is not None:
                    await self._chat(w.chat_id).acquire(min(w.cost, self.limits.chat_burst))
                    if w.chat_id < 0:
                        self._group(w.chat_id).take(w.cost, now)
                self._waiters.remove(w)
                w.future.set_result(None)
            heapq.heapify(self._waiters)
            if self._waiters:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), max(sleep, 0.005))
