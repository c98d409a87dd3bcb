"""A sender's updates one at a time, and no lock kept for a sender with nothing in flight."""

from __future__ import annotations

import asyncio

from aiogram.fsm.storage.base import StorageKey

from bot.telegram.isolation import SenderIsolation


def key(user: int) -> StorageKey:
    return StorageKey(bot_id=1, chat_id=user, user_id=user)


async def test_one_senders_updates_go_one_at_a_time_and_leave_no_lock_behind() -> None:
    isolation, order = SenderIsolation(), []

    async def update(user: int, name: str) -> None:
        async with isolation.lock(key(user)):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(update(1, "a1"), update(1, "a2"), update(2, "b1"))
    assert order.index("a1 out") < order.index("a2 in")  # the same sender: one after the other
    assert order.index("b1 in") < order.index("a1 out")  # another sender: side by side
    assert isolation.held() == 0  # nobody in flight: nothing kept (aiogram's kept one per sender ever seen)
    await asyncio.gather(*(update(100 + i, "x") for i in range(1000)))
    assert isolation.held() == 0


async def test_a_failed_or_cancelled_update_gives_the_lock_back() -> None:
    isolation = SenderIsolation()
    try:
        async with isolation.lock(key(1)):
            raise RuntimeError("the handler failed")
    except RuntimeError:
        pass
    holder_in = asyncio.Event()

    async def hold() -> None:
        async with isolation.lock(key(1)):
            holder_in.set()
            await asyncio.sleep(10)

    async def wait() -> None:
        async with isolation.lock(key(1)):
            pass

    holder = asyncio.create_task(hold())
    await holder_in.wait()
    waiter = asyncio.create_task(wait())
    await asyncio.sleep(0)
    assert isolation.held() == 1
    waiter.cancel()
    holder.cancel()
    await asyncio.gather(holder, waiter, return_exceptions=True)
    assert isolation.held() == 0
    async with asyncio.timeout(1):
        async with isolation.lock(key(1)):  # free again
            pass
