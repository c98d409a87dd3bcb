"""Unit of work: one transaction with its repositories (background jobs, the CLI; an update's own
transaction is storage.update's, which takes the same turns).

SQLite has one writer at a time. Instead of letting concurrent transactions collide and sleep in
SQLite's busy handler, the transactions of one process on one SQLite database take turns on an
asyncio lock. Nothing slow runs inside a transaction (messages are sent after the commit), so a turn
is a few milliseconds. PostgreSQL needs no such lock.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.repositories import Repos


class Turns:
    """SQLite's writer turn: one transaction at a time, an urgent waiter (the inbox storing a fetched batch) before
    the ordinary ones (updates' transactions), the others in order.

    The turn is not handed from one holder to the next waiter: a release frees it and wakes the first waiter, and
    whoever asks while it is free takes it at once. A hand-off made the turn wait, held and idle, for the woken
    waiter's task to come up in the event loop, behind every other ready task: under load that was one transaction
    per loop cycle, so a queue, once formed, never drained (a lock convoy: 200 in-flight updates waited 200 ms each
    for turns of half a millisecond). An update's transaction never yields to the loop between its statements
    (storage.db runs SQLite in place), so it finds the turn free unless a transaction that does yield holds it;
    a woken waiter that finds it taken again waits at the front."""

    def __init__(self) -> None:
        self._locked = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._locked

    async def acquire(self, urgent: bool = False) -> None:
        if not self._locked:
            self._locked = True
            return
        queue, woken = (self._urgent if urgent else self._waiters), False
        loop = asyncio.get_running_loop()
        while True:
            turn: asyncio.Future[None] = loop.create_future()
            if woken:
                queue.appendleft(turn)  # woken, but another task took the turn first: next again
            else:
                queue.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():  # woken, not taken: wake the next one instead
                    self._wake()
                raise
            if not self._locked:
                self._locked = True
                return
            woken = True

    def release(self) -> None:
        self._locked = False
        self._wake()

    def _wake(self) -> None:
        for queue in (self._urgent, self._waiters):
            while queue:
                turn = queue.popleft()
                if not turn.done():  # (a cancelled waiter's turn is done)
                    turn.set_result(None)
                    return

    def __call__(self, urgent: bool = False) -> _Turn:
        return _Turn(self, urgent)


class _Turn:
    """`async with turns(urgent):` (a plain context manager: every update enters one)."""

    __slots__ = ("turns", "urgent")

    def __init__(self, turns: Turns, urgent: bool) -> None:
        self.turns, self.urgent = turns, urgent

    async def __aenter__(self) -> None:
        await self.turns.acquire(self.urgent)

    async def __aexit__(self, *exc: object) -> None:
        self.turns.release()


_sqlite_turns: weakref.WeakKeyDictionary[Any, Turns] = weakref.WeakKeyDictionary()


def write_turn(sessionmaker: async_sessionmaker[AsyncSession], urgent: bool = False) -> Any:
    """The turn SQLite transactions of this database take (a no-op context elsewhere); `urgent`: before the
    queued ordinary ones."""
    engine: AsyncEngine | None = sessionmaker.kw.get("bind")
    if engine is None or engine.dialect.name != "sqlite":
        return nullcontext()
    key = engine.sync_engine
    if key not in _sqlite_turns:
        _sqlite_turns[key] = Turns()
    return _sqlite_turns[key](urgent)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession], urgent: bool = False
) -> AsyncIterator[AsyncSession]:
    """A session in a transaction: commit on success, roll back on error (`urgent`: see Turns).

    The session is closed after the turn is given back: SQLAlchemy closes a session leaving `async with` in a task
    of its own (so that a cancellation cannot cut the close short), and waiting for that task to come up in the
    event loop held the turn idle for a loop cycle; under load every update queued behind it. Once committed or
    rolled back, the connection holds no lock on the database: returning it to the pool needs no turn."""
    async with sessionmaker() as session, write_turn(sessionmaker, urgent), session.begin():
        yield session


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Repos]:
    """Open a transaction with the repositories on it: commit on success, roll back on error."""
    async with transaction(sessionmaker) as session:
        yield Repos(session)
