"""The bot fetches only as many updates as it may work on at once (UPDATES_IN_FLIGHT); an update waiting for the
same person's previous one does not count, so one person whose answers are held up holds up nobody else."""

from __future__ import annotations

import asyncio

from bot.app.sandbox.botapi import FakeBotAPI
from tests.conftest import running
from tests.reporting import Reporter


async def test_a_person_whose_answers_are_held_up_does_not_hold_up_anyone_else(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    async with running(fake_api, db_url, updates_in_flight=2) as harness:
        await harness.seed()
        api = fake_api
        reporter, officer = Reporter(api, 1002), Reporter(api, 1003)
        await reporter.say("/report")
        gate = api.hold("answerCallbackQuery")  # Telegram is slow to take this person's button answers
        screen = api.screen(1002)
        for label in ("1小时前", "30分钟前"):  # two taps: the second waits for the first (same person)
            await api.press(1002, screen, screen.button(label)["callback_data"])
        await api.wait_for(lambda: api.held, 10)
        assert "/report" in await officer.say("/help")  # fetched and answered meanwhile
        gate.set()
        api.holds.clear()
        await api.wait_for(lambda: [s for s in api.in_chat(1002) if "发生地点" in s.text], 10)
        for _ in range(100):  # both taps done: nothing is left counted at work
            if harness.app.in_flight.working == 0:
                break
            await asyncio.sleep(0.05)
        assert harness.app.in_flight.working == 0
