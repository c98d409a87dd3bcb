"""The notifier against the fake Bot API's failure modes, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot

from bot.app.runtime import build_bot, make_notifier
from bot.app.sandbox.botapi import TOKEN, FakeBotAPI
from bot.app.settings import load_settings
from bot.telegram.notifier import Notifier, Outbox
from tests.conftest import Harness


@pytest.fixture
async def bot(fake_api: FakeBotAPI) -> AsyncIterator[Bot]:
    b = build_bot(load_settings({"bot_token": TOKEN, "bot_api_base": fake_api.base_url}, environ={}, env_file=None))
    yield b
    await b.session.close()


async def test_flood_control_waits_retry_after_then_delivers(fake_api: FakeBotAPI, bot: Bot) -> None:
    fake_api.fail_next("sendMessage", "429", retry_after=1)
    out = Outbox()
    out.send(42, "警报")
    await Notifier(bot).flush(out)
    assert [s.text for s in fake_api.in_chat(42)] == ["警报"]
    assert sum(1 for m, _ in fake_api.calls if m == "sendMessage") == 2


async def test_server_errors_are_retried(fake_api: FakeBotAPI, bot: Bot) -> None:
    fake_api.fail_next("sendMessage", "500", count=2)
    out = Outbox()
    out.send(42, "hello")
    await Notifier(bot).flush(out)
    assert [s.text for s in fake_api.in_chat(42)] == ["hello"]


async def test_blocked_user_does_not_stop_the_rest(fake_api: FakeBotAPI, bot: Bot) -> None:
    fake_api.fail_next("sendMessage", "403", chat_id=41)
    out = Outbox()
    out.send(41, "to a user who blocked us")
    out.send(42, "to the next one")
    await Notifier(bot).flush(out)
    assert fake_api.in_chat(41) == [] and [s.text for s in fake_api.in_chat(42)] == ["to the next one"]


async def test_long_text_is_split_below_the_limit(fake_api: FakeBotAPI, bot: Bot) -> None:
    text = "\n".join(f"第{i}行 " + "内容" * 40 for i in range(120))
    out = Outbox()
    out.send(42, text)
    await Notifier(bot).flush(out)
    parts = fake_api.in_chat(42)
    assert len(parts) > 1 and all(len(p.text) <= 4096 for p in parts)
    assert "\n".join(p.text for p in parts) == text


async def test_group_migration_follows_and_rebinds(harness: Harness) -> None:
    await harness.seed()
    api = harness.api
    api.fail_next("sendMessage", "migrate", chat_id=-100200, migrate_to=-100300)
    notifier = make_notifier(harness.app.bot, harness.app.sessionmaker)
    out = Outbox()
    out.send(-100200, "alert")
    await notifier.flush(out)
    assert [s.text for s in api.in_chat(-100300)] == ["alert"]
    async with harness.repos() as r:
        assert (await r.groups.by_chat(-100300)) is not None
