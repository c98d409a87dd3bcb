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
