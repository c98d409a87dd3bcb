"""Unit of work: one transaction with its repositories (background jobs, the CLI; an update's own
transaction is storage.hotpath's, which takes the same turns).

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
    """A FIFO lock with a front of the queue: an urgent waiter (the inbox storing a fetched batch) goes before the
    ordinary ones (updates' transactions). Long polling asks for the next batch only once the last one is stored:
    behind a queue of a few hundred updates' transactions that store waited 150 to 550 ms on average, and every
    update with it. The lock passes straight from one holder to the next waiter."""

    def __init__(self) -> None:
        self._locked = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._locked

    async def acquire(self, urgent: bool = False) -> None:
        if not self._locked and not self._urgent and not self._waiters:
            self._locked = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._waiters).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # the turn was ours already: pass it on
                self.release()
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._waiters):
            while queue:
                turn = queue.popleft()
                if not turn.done():  # (a cancelled waiter's turn is done)
                    turn.set_result(None)
                    return
        self._locked = False

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
    """A session in a transaction: commit on success, roll back on error (`urgent`: see Turns)."""
    async with write_turn(sessionmaker, urgent), sessionmaker() as session, session.begin():
        yield session


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Repos]:
    """Open a transaction with the repositories on it: commit on success, roll back on error."""
    async with transaction(sessionmaker) as session:
        yield Repos(session)
