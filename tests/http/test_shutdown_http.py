"""A stop (SIGTERM, a deploy) lets the updates being handled finish: nobody's step is lost half-way."""

from __future__ import annotations

import asyncio

from tests.conftest import Harness


async def test_stopping_finishes_the_updates_in_flight(harness: Harness) -> None:
    await harness.seed()
    api = harness.api
    gate = api.hold("sendMessage")  # Telegram is slow to accept the bot's answer
    await api.send_text(1002, "/report")
    await api.wait_for(lambda: api.held)  # the step is committed and its answer is on the way

    stopping = asyncio.create_task(harness.stop())
    await asyncio.sleep(0.5)
    assert not stopping.done()  # the stop waits for the answer instead of cutting it off
    gate.set()
    await asyncio.wait_for(stopping, 10)

    assert "发生时间" in api.in_chat(1002)[-1].text
