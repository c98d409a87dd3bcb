"""SQLite's write turns: in order, an urgent waiter (the inbox storing a fetched batch) first, and a waiter
cancelled while queued, or just as its turn came, never leaves the lock held; a free turn is taken at once (no
hand-off to a waiter the event loop has not run yet), and a transaction gives it back before its session closes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from storage.db import create_engine, create_sessionmaker
from storage.uow import Turns, transaction, write_turn


async def _take(turns: Turns, name: str, order: list[str], urgent: bool = False) -> None:
    async with turns(urgent):
        order.append(name)
        await asyncio.sleep(0)


async def test_turns_go_in_order_with_the_urgent_first() -> None:
    turns, order = Turns(), []
    await turns.acquire()
    tasks = [asyncio.create_task(_take(turns, f"update{i}", order)) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(_take(turns, "inbox", order, urgent=True)))
    await asyncio.sleep(0)
    turns.release()
    await asyncio.gather(*tasks)
    assert order == ["inbox", "update0", "update1", "update2"]
    assert not turns.locked()


async def test_a_cancelled_waiter_never_keeps_the_turn() -> None:
    turns, order = Turns(), []
    await turns.acquire()
    queued = asyncio.create_task(_take(turns, "cancelled while queued", order))
    handed = asyncio.create_task(_take(turns, "cancelled as its turn came", order))
    last = asyncio.create_task(_take(turns, "last", order))
    await asyncio.sleep(0)
    queued.cancel()
    await asyncio.sleep(0)
    turns.release()  # the turn passes to `handed`, which is cancelled before it runs
    handed.cancel()
    await asyncio.wait_for(last, 1)
    assert order == ["last"]
    assert not turns.locked()


async def test_a_free_turn_is_taken_at_once_even_before_a_woken_waiter_runs() -> None:
    """The turn is not handed to the next waiter (which runs only when the event loop comes to it): whoever asks
    while it is free takes it, and the woken waiter that found it taken goes first next."""
    turns, order = Turns(), []
    await turns.acquire()
    waiter = asyncio.create_task(_take(turns, "waiter", order))
    await asyncio.sleep(0)
    turns.release()  # wakes `waiter`, which has not run yet
    await turns.acquire()  # free: taken at once, no queueing behind the woken waiter
    order.append("newcomer")
    later = asyncio.create_task(_take(turns, "later", order))
    await asyncio.sleep(0)  # `waiter` runs, finds the turn taken, and waits at the front again
    turns.release()
    await asyncio.wait_for(asyncio.gather(waiter, later), 1)
    assert order == ["newcomer", "waiter", "later"]
    assert not turns.locked()


async def test_a_transaction_gives_back_the_turn_before_it_yields_to_the_loop(tmp_path: Path) -> None:
    """SQLAlchemy closes a session in a task of its own: the turn must not wait, held, for that task to come up
    in the event loop. The first task to run after the transaction's statements finds the turn free."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    sessionmaker = create_sessionmaker(engine)
    turns = write_turn(sessionmaker).turns
    seen: list[bool] = []

    async def probe() -> None:
        seen.append(turns.locked())

    try:
        async with transaction(sessionmaker) as session:
            waiting = asyncio.create_task(probe())  # runs at the transaction's first yield to the loop
            await session.execute(text("SELECT 1"))  # (SQLite runs in place: no yield here)
        await waiting
        assert seen == [False]
    finally:
        await engine.dispose()
