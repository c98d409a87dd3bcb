"""Webhook mode's side of the update inbox: take stored updates and run them, as many workers as there are processes.

Each worker takes (storage.inbox.Inbox.claim) only the oldest update waiting of each person, none another worker holds:
so one person's updates run one at a time, in the order Telegram numbered them, whichever worker received them, and
different people's run in parallel, up to `limit` at once per worker. A take is a lease, renewed every third of it
while the update runs (a send that waits on Telegram's limits is slow, not dead): a worker that dies (SIGKILL, a lost
machine) lets go of its updates one lease after its last renewal, and another takes them; the update's transaction
takes it in the inbox with its effects (storage.update), so it is handled once even if two workers ran it. A worker
is woken when an update is stored (here, or by another worker through PostgreSQL's NOTIFY) and when one of its
updates finishes (that person's next may wait); it also looks every few seconds, so nothing waits on a lost wake-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta

from bot.domain.clock import utcnow
from bot.telegram import metrics
from storage.inbox import Claimed, Inbox

log = logging.getLogger(__name__)

LOOK_EVERY = 2.0  # seconds: a worker looks for work this often even without a wake-up


class InboxWorker:
    def __init__(
        self,
        inbox: Inbox,
        run_update: Callable[[Claimed], Awaitable[None]],
        set_aside: Callable[[Claimed], Awaitable[None]],
        name: str,
        limit: int,
        lease: timedelta,
        max_runs: int,
    ) -> None:
        self.inbox, self.run_update, self.set_aside = inbox, run_update, set_aside
        self.name, self.limit, self.lease, self.max_runs = name, limit, lease, max_runs
        self.running: set[asyncio.Task[None]] = set()
        self.holding: dict[asyncio.Task[None], int] = {}  # each running update's id, its lease renewed
        self._wake = asyncio.Event()
        self._stopping = False
        self.handled = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            room = self.limit - len(self.running)
            taken: list[Claimed] = []
            if room > 0 and not self._stopping:
                try:
                    taken = await self.inbox.claim(self.name, room, self.lease, utcnow())
                except Exception:
                    log.exception("could not take updates from the inbox; trying again")
            for claimed in taken:
                if claimed.runs >= self.max_runs:  # its earlier runs took their process down: set it aside
                    metrics.UPDATES_SET_ASIDE.inc()
                    await self.set_aside(claimed)
                    continue
                task = asyncio.create_task(self._run(claimed))
                self.running.add(task)
                self.holding[task] = claimed.update_id
                task.add_done_callback(self._done)
            if taken and len(taken) == room:
                continue  # there may be more waiting
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), LOOK_EVERY)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        self.holding.pop(task, None)

    async def renew(self) -> None:
        """Every third of the lease: keep holding the updates still running here (also while a stop waits for them;
        the task is cancelled when the worker is gone)."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await self.inbox.renew(self.name, list(self.holding.values()), utcnow() + self.lease)
            except Exception:  # the next renewal may get through before the lease runs out
                log.exception("could not renew the leases of the updates being run")

    async def _run(self, claimed: Claimed) -> None:
        try:
            await self.run_update(claimed)
            self.handled += 1
            metrics.UPDATES_HANDLED.inc()
        except Exception:  # the error handler told the person; the update is marked handled with its error
            metrics.UPDATES_FAILED.inc()
            log.exception("update %s failed", claimed.update_id)
        finally:
            self.wake()  # that person's next update may be waiting

    async def stop(self, grace: float) -> int:
        """Let the updates at work finish (at most `grace` seconds), then give back what is left; returns how many
        did not finish (their transactions roll back; another worker runs them)."""
        self._stopping = True  # takes nothing more
        self.wake()
        left: set[asyncio.Task[None]] = set()
        if self.running:
            _done, left = await asyncio.wait(set(self.running), timeout=grace)
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)
        try:
            await self.inbox.let_go(self.name)
        except Exception:  # their leases run out instead
            log.exception("could not give back the updates this worker held")
        return len(left)
