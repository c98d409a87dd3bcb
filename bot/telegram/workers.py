"""Webhook mode's side of the update inbox: take stored updates and run them, as many workers as there are processes.

Each worker takes (storage.inbox.Inbox.claim) only the oldest update waiting of each person, none another worker holds:
so one person's updates run one at a time, in the order Telegram numbered them, whichever worker received them, and
different people's run in parallel, up to `limit` at once per worker. A take is a lease, renewed every third of it
while the update runs (a send that waits on Telegram's limits is slow, not dead): a worker that dies (SIGKILL, a lost
machine) lets go of its updates one lease after its last renewal, and another takes them; the update's transaction
takes it in the inbox with its effects (storage.update), so it is handled once even if two workers ran it. A worker
is woken when an update is stored to wait (by another worker, through PostgreSQL's NOTIFY) and when one of its updates
finishes (that person's next may wait); it also looks every few seconds, so nothing waits on a lost wake-up.

The worker that received an update takes it in the statement that stores it (`receive`) when it may run at once (no
earlier update of that person waiting, room here), and runs it: most updates cost one statement and no claim, and the
claim is for those that wait (behind a person's earlier update, or for room) and for a dead worker's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta

from bot.domain.clock import utcnow
from bot.telegram import metrics
from storage.inbox import Claimed, Inbox
from storage.intake import Intake

log = logging.getLogger(__name__)

LOOK_EVERY = 2.0  # seconds: a worker looks for work this often even without a wake-up
# After word that an update waits (a NOTIFY, or one stored here that could not run at once), a worker looks again each
# time one of its updates finishes, for this long: the one waiting may be that person's next. Without such word a
# finished update wakes nobody (Telegram posts a person's next update once the previous was answered, which is
# nearly always after it ran), and the claim statement is not spent on every update.
WAITING_WORD = 30.0
# A worker takes the updates it receives up to this many times `limit` (they wait for one of its `limit` slots, their
# leases renewed): under a burst the receiving worker keeps them instead of handing each to a claim. The load balancer
# spreads the POSTs; the claim takes what a full or dead worker left.
BACKLOG = 4


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
        intake: Intake | None = None,
    ) -> None:
        self.inbox, self.run_update, self.set_aside = inbox, run_update, set_aside
        self.intake = intake or inbox  # where received updates are stored (its own connections: never behind updates)
        self.name, self.limit, self.lease, self.max_runs = name, limit, lease, max_runs
        self.running: set[asyncio.Task[None]] = set()  # taken here: running, or waiting for a slot
        self._slots = asyncio.Semaphore(limit)
        self.holding: dict[asyncio.Task[None], int] = {}  # each running update's id, its lease renewed
        self._wake = asyncio.Event()
        self._waiting_until = 0.0  # (monotonic) until when a finished update makes this worker look again
        self._stopping = False
        self._receiving = 0  # updates being stored that may be taken here (room kept for them)
        self.handled = 0

    def wake(self) -> None:
        """An update waits to be claimed (PostgreSQL's NOTIFY from any worker, or stored here to wait)."""
        self._waiting_until = time.monotonic() + WAITING_WORD
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
                await self._start(claimed)
            if taken and len(taken) == room:
                continue  # there may be more waiting
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), LOOK_EVERY)

    async def receive(self, update_id: int, payload: str, sender: int | None) -> None:
        """The webhook stored an update (before its 200): take it here when it may run now and there is room."""
        room = not self._stopping and len(self.running) + self._receiving < BACKLOG * self.limit
        self._receiving += room
        try:
            until = utcnow() + self.lease
            taken = await self.intake.receive(update_id, payload, sender, self.name if room else None, until)
        finally:
            self._receiving -= room
        if taken:
            await self._start(Claimed(update_id, payload, 1))
        else:
            self.wake()  # it waits: for room here, or behind that person's earlier update (a worker's claim)

    async def _start(self, claimed: Claimed) -> None:
        if claimed.runs >= self.max_runs:  # its earlier runs took their process down: set it aside
            metrics.UPDATES_SET_ASIDE.inc()
            await self.set_aside(claimed)
            return
        task = asyncio.create_task(self._run(claimed))
        self.running.add(task)
        self.holding[task] = claimed.update_id
        task.add_done_callback(self._done)

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
            async with self._slots:
                await self.run_update(claimed)
            self.handled += 1
            metrics.UPDATES_HANDLED.inc()
        except Exception:  # the error handler told the person; the update is marked handled with its error
            metrics.UPDATES_FAILED.inc()
            log.exception("update %s failed", claimed.update_id)
        finally:
            if time.monotonic() < self._waiting_until:
                self._wake.set()  # that person's next update may be waiting

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
