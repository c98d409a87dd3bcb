"""`python -m bot run` as a real child process, talked to over HTTP through the fake Bot API."""

from __future__ import annotations

import asyncio
import signal

import pytest

from bot.app.sandbox.botapi import BOT_USERNAME, FakeBotAPI
from tests.subproc import BotProcess, bot_env, cli

pytestmark = pytest.mark.subprocess


async def county_reporter_env(api: FakeBotAPI, db_url: str) -> dict[str, str]:
    """Settings for a child bot, with one county and its reporter 李报送 (1002) created through the CLI."""
    env = bot_env(api, db_url)
    for args in (
        ("admin", "add-unit", "--code", "county", "--name", "县应急管理局"),
        (
            "admin",
            "add-user",
            "--telegram-id",
            "1002",
            "--name",
            "李报送",
            "--unit",
            "county",
            "--role",
            "reporter",
            "--phone",
            "13800000002",
        ),
    ):
        code, _, err = await cli(env, *args)
        assert code == 0, err
    return env


async def county_bot_with_group(api: FakeBotAPI, db_url: str) -> BotProcess:
    """county_reporter_env with the county's duty group (-100300) bound from the CLI, and the bot started."""
    env = await county_reporter_env(api, db_url)
    code, _, err = await cli(env, "admin", "bind-group", "--chat-id", "-100300", "--unit", "county")
    assert code == 0, err
    bot = BotProcess(env)
    await bot.start(api)
    return bot


async def test_register_help_lang_and_bind_group(fake_api: FakeBotAPI, db_url: str) -> None:
    env = bot_env(fake_api, db_url)
    for args in (
        ("admin", "add-unit", "--code", "city", "--name", "市应急管理局"),
        ("admin", "add-user", "--telegram-id", "1001", "--name", "王管理", "--unit", "city", "--role", "admin"),
    ):
        code, out, err = await cli(env, *args)
        assert code == 0, err
    code, link, err = await cli(env, "admin", "invite", "--unit", "city", "--role", "reporter")
    assert code == 0, err
    assert link.startswith(f"https://t.me/{BOT_USERNAME}?start=")
    invite_code = link.strip().rsplit("=", 1)[1]

    bot = BotProcess(env)
    await bot.start(fake_api)
    try:
        api = fake_api
        assert api.commands, "the bot sets its command menu at start"
        await api.send_text(2001, f"/start {invite_code}")
        assert "登记成功" in (await api.next_in(2001, 0)).text
        await api.send_text(2001, "/help")
        help_msg = await api.next_in(2001, 1)
        assert "/report" in help_msg.text and "/bindgroup" not in help_msg.text
        await api.send_text(2001, "/lang")
        menu = await api.next_in(2001, 2)
        await api.press(2001, menu, menu.button("English")["callback_data"])
        assert (await api.next_in(2001, 3)).text == "Language set to English."
        api.chat_admins[-100555].add(1001)  # an administrator of the Telegram group too
        await api.send_text(1001, "/bindgroup", chat_id=-100555)
        assert "值班群" in (await api.next_in(-100555, 0)).text
    finally:
        code = await bot.stop(signal.SIGTERM)
    assert code == 0
    code, out, _ = await cli(env, "admin", "list-users")
    assert "2001" in out and "reporter" in out


async def test_half_filled_report_survives_sigkill(fake_api: FakeBotAPI, db_url: str) -> None:
    from tests.reporting import Reporter

    env = await county_reporter_env(fake_api, db_url)
    r = Reporter(fake_api, 1002)
    bot = BotProcess(env)
    await bot.start(fake_api)
    try:
        await r.say("/report")
        await r.tap("1小时前")
        await r.share_location(30.5, 114.3)
        prompt = await r.say("江堤 3 号闸口")
        assert "第 3/12 步 · 信息来源" in prompt
    finally:
        assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL

    await bot.start(fake_api)
    try:
        answer = await r.tap("现场人员")  # a button of the screen shown before the crash still works
        assert "当前：现场人员" in answer and "✅ 现场人员" in r.buttons()
        answer = await r.tap("下一步")
        assert "第 4/12 步 · 事件类别" in answer
        await r.say("/back")
        back = await r.say("/back")
        assert "第 2/12 步 · 发生地点" in back and "江堤 3 号闸口" in back and "30.50000" in back
    finally:
        assert await bot.stop(signal.SIGTERM) == 0


async def test_an_update_in_flight_when_the_process_dies_is_handled_after_restart(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    """SIGKILL while an answer is inside its transaction (held there by a row lock): Telegram was
    already told the update arrived, so only the inbox brings it back."""
    import asyncpg

    from tests.reporting import Reporter

    if not db_url.startswith("postgresql"):
        pytest.skip("holds the bot inside a transaction with a row lock, which needs PostgreSQL")
    env = await county_reporter_env(fake_api, db_url)
    api, r = fake_api, Reporter(fake_api, 1002)
    bot = BotProcess(env)
    await bot.start(api)
    lock = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await r.say("/report")
        assert "第 2/12 步 · 发生地点" in await r.tap("1小时前")
        tx = lock.transaction()
        await tx.start()
        await lock.execute("SELECT 1 FROM fsm_state WHERE user_id = 1002 FOR UPDATE")
        before = len(api.in_chat(1002))
        await api.send_text(1002, "江堤 3 号闸口")
        await api.wait_for(lambda: not api.updates, 10)  # fetched, and confirmed by the next getUpdates
        stored = "SELECT handled_at FROM update_inbox WHERE payload LIKE '%江堤 3 号闸口%'"
        for _ in range(100):
            if await lock.fetch(stored):
                break
            await asyncio.sleep(0.05)
        assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
        await tx.rollback()
        assert len(api.in_chat(1002)) == before  # the answer was never sent
    finally:
        await lock.close()

    await bot.start(api)  # the new process handles what the old one could not
    try:
        await api.wait_for(lambda: any("第 3/12 步 · 信息来源" in s.text for s in api.in_chat(1002)[before:]), 15)
        back = await r.say("/back")
        assert "江堤 3 号闸口" in back
    finally:
        assert await bot.stop(signal.SIGTERM) == 0


LOCK_WAITERS = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"


async def test_a_kill_after_filing_and_before_the_update_is_done_files_once_and_alerts_once(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    """PostgreSQL files a report in a statement committed on its own (no BEGIN/COMMIT round trips), before the
    update's last writes (the inbox, the conversation row, the answers). SIGKILL between the two (held there by a
    lock on the reporter's conversation row): at the next start the update is handled again and finds the report
    filed: one incident, one number, the reporter told it, the duty group alerted once."""
    import asyncpg

    from tests.http.test_report_http import fill_until_review
    from tests.reporting import Reporter

    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite files in the update's own transaction; holding it there needs PostgreSQL's row locks")
    api = fake_api
    bot = await county_bot_with_group(api, db_url)
    r = Reporter(api, 1002)
    lock = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    filed = "SELECT number FROM incidents"
    try:
        try:
            await fill_until_review(r, casualties="无")
            tx = lock.transaction()
            await tx.start()
            await lock.execute("SELECT 1 FROM fsm_state WHERE user_id = 1002 FOR UPDATE")
            before = len(api.in_chat(1002))
            screen = api.screen(1002)
            await api.press(1002, screen, screen.button("提交")["callback_data"])
            for _ in range(200):
                if await lock.fetch(filed):
                    break
                await asyncio.sleep(0.05)
            for _ in range(200):  # and the update's last statement has reached the lock (a loaded machine is slow)
                if await lock.fetchval(LOCK_WAITERS):
                    break
                await asyncio.sleep(0.05)
        finally:
            assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
        numbers = [row["number"] for row in await lock.fetch(filed)]
        assert len(numbers) == 1 and numbers[0].startswith("KB-") and numbers[0].endswith("-0001")
        # the dead process's last statement waits on the server; it must not run once the lock is gone (as if it
        # had never left the process)
        waiting = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        assert [row[0] for row in await lock.fetch(waiting)] == [True]
        await tx.rollback()
        assert len(api.in_chat(1002)) == before  # the reporter heard nothing yet
    finally:
        await lock.close()

    await bot.start(api)
    try:
        told = await api.wait_for(lambda: [s for s in api.in_chat(1002)[before:] if "不会重复提交" in s.text], 20)
        assert numbers[0] in told[0].text  # the update, handled again, found its report filed
        await api.wait_for(lambda: [s for s in api.in_chat(-100300) if "突发事件初报" in s.text], 20)
        await asyncio.sleep(1.0)
        assert len([s for s in api.in_chat(-100300) if "突发事件初报" in s.text]) == 1
        assert not [s for s in api.in_chat(1002)[before:] if "KB-" in s.text and numbers[0] not in s.text]
    finally:
        assert await bot.stop(signal.SIGTERM) == 0
    check = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await check.fetchval("SELECT count(*) FROM incidents") == 1
        assert await check.fetchval("SELECT count(*) FROM reports") == 1
        assert await check.fetchval("SELECT count(*) FROM update_inbox WHERE handled_at IS NULL") == 0
    finally:
        await check.close()


async def test_an_answer_committed_but_not_sent_when_the_process_dies_is_sent_after_restart(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    """SIGKILL after a step committed, while its answers were still going out: the outbox sends them."""
    from tests.reporting import Reporter

    env = await county_reporter_env(fake_api, db_url)
    api, r = fake_api, Reporter(fake_api, 1002)
    bot = BotProcess(env)
    await bot.start(api)
    try:
        await r.say("/report")
        gate = api.hold("answerCallbackQuery")  # the first answer of a button press hangs on the way
        screen = api.screen(1002)
        await api.press(1002, screen, screen.button("1小时前")["callback_data"])
        await api.wait_for(lambda: api.held, 10)
    finally:
        assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
    gate.set()
    api.holds.clear()
    assert not any("发生地点" in s.text for s in api.in_chat(1002))  # the next question never went out

    await bot.start(api)
    try:
        prompt = await api.wait_for(lambda: [s for s in api.in_chat(1002) if "第 2/12 步 · 发生地点" in s.text], 15)
        assert prompt[0].button("发送当前位置")  # with its keyboard
        assert "第 3/12 步 · 信息来源" in await r.say("江堤 3 号闸口")  # and the form goes on from there
    finally:
        assert await bot.stop(signal.SIGTERM) == 0


async def test_a_kill_between_an_alert_and_its_photo_completes_once_at_the_next_start(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    """SIGKILL after Telegram accepted the alert's text and before its photo: at the next start the photo
    is sent, once, and the text is not sent again. The group was bound from the CLI: its title is Telegram's."""
    from tests.http.test_report_http import fill_until_review
    from tests.reporting import Reporter

    api = fake_api
    api.titles[-100300] = "县应急值班群"
    env = await county_reporter_env(api, db_url)
    code, out, err = await cli(env, "admin", "bind-group", "--chat-id", "-100300", "--unit", "county")
    assert code == 0 and "县应急值班群" in out, err
    r = Reporter(api, 1002)
    bot = BotProcess(env)
    await bot.start(api)
    try:
        await fill_until_review(r, casualties="无", photos=1)
        gate = api.hold("sendPhoto")
        receipt = await r.tap("提交")
        assert "县应急值班群" in receipt  # named by the title Telegram gave, not by its id
        await api.wait_for(lambda: api.held, 15)  # the text went out; the photo is on its way
        assert [s.method for s in api.in_chat(-100300)] == ["sendMessage"]
    finally:
        assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
    gate.set()  # the dead process's photo never reached "Telegram"
    api.holds.clear()

    await bot.start(api)
    try:
        await api.wait_for(lambda: [s for s in api.in_chat(-100300) if s.method == "sendPhoto"], 20)
        await asyncio.sleep(1.0)
        assert [s.method for s in api.in_chat(-100300)] == ["sendMessage", "sendPhoto"]
    finally:
        assert await bot.stop(signal.SIGTERM) == 0


async def test_a_deadline_that_came_due_while_the_bot_was_killed_fires_once_at_restart(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    """SIGKILL; meanwhile the follow-up deadline passes. At the next start the reporter gets one reminder
    (marked overdue) and the duty group one 迟报 notice; a further restart sends nothing again."""
    from datetime import timedelta

    from sqlalchemy import update

    from bot.domain.clock import utcnow
    from storage.db import create_engine, create_sessionmaker
    from storage.models import Deadline
    from storage.uow import transaction
    from tests.http.test_report_http import fill_until_review
    from tests.reporting import Reporter

    api = fake_api
    bot = await county_bot_with_group(api, db_url)
    r = Reporter(api, 1002)
    try:
        await fill_until_review(r, casualties="无")
        assert "初报已提交" in await r.tap("提交")
        await api.wait_for(lambda: [s for s in api.in_chat(-100300) if "突发事件初报" in s.text], 15)
    finally:
        assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
    engine = create_engine(db_url)  # while it is down, the follow-up deadline passes
    try:
        now = utcnow()
        async with transaction(create_sessionmaker(engine)) as s:
            await s.execute(
                update(Deadline)
                .where(Deadline.due == "followup")
                .values(
                    start_at=now - timedelta(hours=72, minutes=10),
                    due_at=now - timedelta(minutes=10),
                    next_at=now - timedelta(hours=36),
                )
            )
    finally:
        await engine.dispose()

    def reminders() -> list[str]:
        return [s.text for s in api.in_chat(1002) if "报送提醒" in s.text]

    def notices() -> list[str]:
        return [s.text for s in api.in_chat(-100300) if "迟报" in s.text and "以下报告" in s.text]

    for _round in range(2):
        await bot.start(api)
        try:
            await api.wait_for(lambda: reminders() and notices(), 20)
            await asyncio.sleep(1.5)
            assert len(reminders()) == 1 and "已超时 10分钟" in reminders()[0]
            assert len(notices()) == 1
        finally:
            assert await bot.stop(signal.SIGTERM) == 0
