"""An update that takes the process down again and again is set aside, and the bot goes on; nothing secret reaches
the log. `python -m bot run` as a real child process, killed with SIGKILL as the kernel's OOM killer would."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from bot.app.sandbox.botapi import TOKEN, FakeBotAPI
from tests.hostile import csv_rows
from tests.subproc import BotProcess, bot_env, cli

pytestmark = pytest.mark.subprocess

ADMIN, OTHER_ADMIN = 1001, 1003


async def city_env(api: FakeBotAPI, db_url: str) -> dict[str, str]:
    env = bot_env(api, db_url, UPDATE_MAX_ATTEMPTS="3")
    for args in (
        ("admin", "add-unit", "--code", "city", "--name", "市应急管理局"),
        ("admin", "add-user", "--telegram-id", str(ADMIN), "--name", "王管理", "--unit", "city", "--role", "admin"),
        (
            "admin",
            "add-user",
            "--telegram-id",
            str(OTHER_ADMIN),
            "--name",
            "陈管理",
            "--unit",
            "city",
            "--role",
            "admin",
        ),
    ):
        code, _, err = await cli(env, *args)
        assert code == 0, err
    return env


async def test_an_update_that_kills_the_bot_each_time_is_set_aside_and_the_bot_goes_on(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    api = fake_api
    env = await city_env(api, db_url)
    gate = api.hold("getFile")  # the roster's download never comes back: the process is killed mid-update
    bot = BotProcess(env)
    try:
        await bot.start(api)
        await api.send_document(ADMIN, "roster.csv", csv_rows(1), "text/csv")
        for run in (1, 2, 3):  # the first run, then two replays at the next starts: each killed mid-update
            await api.wait_for(lambda r=run: api.held >= r, timeout=30)
            assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
            if run < 3:
                await bot.launch()
        await bot.start(api)  # the third replay would be the update's third run: it is set aside, the bot polls
        told = await api.wait_for(lambda: [s for s in api.in_chat(ADMIN) if "已被搁置" in s.text], timeout=15)
        assert "没有处理" in told[0].text
        admins = await api.wait_for(lambda: [s for s in api.in_chat(OTHER_ADMIN) if "搁置" in s.text], timeout=15)
        assert "王管理" in admins[0].text and "quarantine" in admins[0].text
        before = len(api.in_chat(OTHER_ADMIN))
        await api.send_text(OTHER_ADMIN, "/help")  # and the bot goes on
        assert "/bindgroup" in (await api.next_in(OTHER_ADMIN, before, timeout=15)).text
        assert api.held == 3  # set aside without a fourth run

        code, listed, err = await cli(env, "admin", "quarantine", "list")
        assert code == 0, err
        rows = listed.strip().splitlines()[1:]
        assert len(rows) == 1 and "stopped while handling it (3 runs)" in rows[0]
        update_id = rows[0].split("\t")[0]
        gate.set()  # Telegram answers again; the operator retries the update
        code, out, err = await cli(env, "admin", "quarantine", "retry", update_id)
        assert code == 0 and "released" in out, err
        imported = await api.wait_for(lambda: [s for s in api.in_chat(ADMIN) if "值班表" in s.text], timeout=30)
        assert "单位" in imported[-1].text  # the roster was read (its row names an unknown unit: refused by line)
        code, listed, _ = await cli(env, "admin", "quarantine", "list")
        assert listed.strip().splitlines()[1:] == []
        code, _, err = await cli(env, "admin", "quarantine", "drop", update_id)
        assert code == 1 and "no update" in err
    finally:
        gate.set()
        await bot.stop()


async def test_a_failed_download_leaves_no_token_in_the_log(fake_api: FakeBotAPI, db_url: str) -> None:
    api = fake_api
    env = await city_env(api, db_url)
    bot = BotProcess(env)
    try:
        await bot.start(api)
        api.broken_downloads.add(f"doc{len(api.files) + 1}")  # the id the next file gets
        before = len(api.in_chat(ADMIN))
        await api.send_document(ADMIN, "roster.csv", csv_rows(1), "text/csv")
        answer = await api.next_in(ADMIN, before, timeout=15)
        assert "出错" in answer.text  # the person is told; nothing was imported
    finally:
        await bot.stop()
    log = Path(bot.log.name).read_text(encoding="utf-8")  # noqa: ASYNC240 (the bot has stopped; a small file)
    assert "documents/doc1" in log or "404" in log  # the failure is logged …
    assert TOKEN not in log and TOKEN.split(":", 1)[1] not in log  # … without the token
    assert "<redacted>" in log
