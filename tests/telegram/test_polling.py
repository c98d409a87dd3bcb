"""Poll pacing: a small batch makes the next getUpdates wait a moment; a full or empty one never does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiogram.methods import GetUpdates, SendMessage

from bot.telegram import polling as module
from bot.telegram.polling import PollPacing


async def test_small_batches_gather_and_idle_polls_go_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(module.asyncio, "sleep", sleep)
    pacing = PollPacing(window=5.0, full_batch=3)
    answers = [[1], [1, 2, 3], [], [1]]

    async def make_request(bot: Any, method: Any) -> Any:
        return answers.pop(0) if isinstance(method, GetUpdates) else True

    await pacing(make_request, None, GetUpdates())
    assert waits == []  # the first poll goes at once
    await pacing(make_request, None, GetUpdates())  # after one update: gather for (nearly) the window
    assert len(waits) == 1 and 4.0 < waits[0] <= 5.0
    await pacing(make_request, None, GetUpdates())  # after a full batch: at once
    await pacing(make_request, None, GetUpdates())  # after an empty (idle) poll: at once
    assert len(waits) == 1
    await pacing(make_request, None, SendMessage(chat_id=1, text="x"))  # other methods are never paced
    assert len(waits) == 1


async def test_updates_are_fetched_only_as_far_as_there_is_room_to_work_on_them() -> None:
    """Fetched and not started, or holding their sender's turn: both count against the limit."""
    from types import SimpleNamespace

    from bot.telegram.polling import InFlight

    at_work = InFlight(limit=3)
    pacing = PollPacing(window=0.0, in_flight=at_work)
    limits: list[int | None] = []
    answers: list[list[Any]] = [[], [SimpleNamespace(update_id=7), SimpleNamespace(update_id=8)], [], []]

    async def make_request(bot: Any, method: Any) -> Any:
        limits.append(method.limit)
        return answers.pop(0)

    await pacing(make_request, None, GetUpdates())
    assert limits == [3]
    await pacing(make_request, None, GetUpdates())  # two fetched, not started yet
    assert limits == [3, 3]
    with at_work.turn():  # and one at work
        poll = asyncio.create_task(pacing(make_request, None, GetUpdates()))
        await asyncio.sleep(0.05)
        assert not poll.done()  # full: the next poll waits
        at_work.arrived(7)  # started, and waiting for its sender's earlier update (not counted)
        await asyncio.wait_for(poll, 1)
        assert limits == [3, 3, 1]  # room for one
        at_work.arrived(8)
        at_work.arrived(99)  # (fed without fetching: nothing to take off)
        await pacing(make_request, None, GetUpdates())
        assert limits == [3, 3, 1, 2]
    assert await InFlight(limit=500).room() == InFlight.BATCH_MAX  # the Bot API's cap
