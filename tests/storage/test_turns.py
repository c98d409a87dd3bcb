"""SQLite's write turns: in order, an urgent waiter (the inbox storing a fetched batch) first, and a waiter
cancelled while queued, or just as its turn came, never leaves the lock held."""

from __future__ import annotations

import asyncio

from storage.uow import Turns


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
