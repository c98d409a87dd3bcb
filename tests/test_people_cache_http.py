"""The bot keeps the people behind Telegram accounts in a per-process cache (storage.people). A change made
anywhere else (the CLI in its own process, another engine, a statement typed by hand) is seen by the very
next update: database triggers advance a counter that every update reads with the sender's state."""

from __future__ import annotations

from sqlalchemy import text

from storage.db import create_engine
from tests.conftest import Harness
from tests.subproc import bot_env, cli


async def test_a_role_changed_by_the_cli_is_seen_by_the_next_update(harness: Harness, db_url: str) -> None:
    await harness.seed()
    api = harness.api
    await api.send_text(1002, "/help")
    before = (await api.next_in(1002, 0)).text
    assert "/report" in before and "/warn " not in before  # a reporter (now in the bot's cache)

    args = ("admin", "set-role", "--telegram-id", "1002", "--role", "publisher")
    code, out, err = await cli(bot_env(api, db_url), *args)
    assert code == 0, out + err

    await api.send_text(1002, "/help")
    after = (await api.next_in(1002, 1)).text
    assert "/warn" in after and "/report" not in after
    await api.send_text(1002, "/report")
    assert "角色" in (await api.next_in(1002, 2)).text  # refused: a publisher does not file reports


async def test_a_person_switched_off_by_hand_is_refused_at_once(harness: Harness, db_url: str) -> None:
    await harness.seed()
    api = harness.api
    await api.send_text(1002, "/report")
    assert (await api.next_in(1002, 0)).reply_markup  # the form's first screen (the person is now cached)

    other = create_engine(db_url)  # another process's connection, a statement nobody's code wrote
    try:
        async with other.begin() as conn:
            await conn.execute(text("UPDATE users SET active = false WHERE telegram_id = 1002"))
    finally:
        await other.dispose()

    await api.send_text(1002, "/help")
    assert "邀请链接" in (await api.next_in(1002, 1)).text  # answered as someone not registered
