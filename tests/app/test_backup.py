"""Backups: `python -m bot backup FILE` (SQLite) takes a consistent copy while the bot runs, and the copy restores as
the database; on PostgreSQL the pg_dump/pg_restore commands of docs/operations.md round-trip."""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from bot.app.cli import main
from bot.app.sandbox.botapi import FakeBotAPI
from bot.usecases.onboarding import add_unit
from storage.models import Incident
from tests.conftest import REQUIRE_PG, create_pg_database, drop_pg_database, running
from tests.reporting import Reporter


def test_a_backup_restores_as_the_database(tmp_path: Path) -> None:
    runner = CliRunner()
    live = tmp_path / "kuaibao.db"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{live}", "BOT_TOKEN": ""}

    def invoke(*args: str, database: Path = live) -> Result:
        return runner.invoke(main, list(args), env={**env, "DATABASE_URL": f"sqlite+aiosqlite:///{database}"})

    assert invoke("admin", "add-unit", "--code", "city", "--name", "市应急管理局").exit_code == 0
    writer = sqlite3.connect(live)  # the bot, in the middle of a transaction of its own
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE units SET name = '市应急管理局（未提交）' WHERE code = 'city'")
    copy = tmp_path / "backup.db"
    result = invoke("backup", str(copy))
    writer.rollback()
    writer.close()
    assert result.exit_code == 0 and "backed up" in result.output
    # restore: the copy is the database (the uncommitted change is not in it)
    person = ("--telegram-id", "42", "--name", "甲", "--unit", "city", "--role", "reporter")
    restored = invoke("admin", "add-user", *person, database=copy)
    assert restored.exit_code == 0, restored.output
    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT name FROM units WHERE code = 'city'").fetchone() == ("市应急管理局",)
        assert db.execute("SELECT count(*) FROM users").fetchone() == (1,)
    with sqlite3.connect(live) as db:
        assert db.execute("SELECT count(*) FROM users").fetchone() == (0,)  # the original is untouched


def test_backup_names_what_to_use_for_postgresql_and_a_missing_file(tmp_path: Path) -> None:
    runner = CliRunner()
    pg = runner.invoke(main, ["backup", str(tmp_path / "x")], env={"DATABASE_URL": "postgresql+asyncpg://u@h/db"})
    assert pg.exit_code == 2 and "pg_dump" in pg.output
    missing = runner.invoke(
        main, ["backup", str(tmp_path / "x")], env={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"}
    )
    assert missing.exit_code == 1 and "no database" in missing.output


async def test_a_postgresql_dump_taken_while_the_bot_runs_restores_as_the_manual_says(fake_api: FakeBotAPI) -> None:
    """docs/operations.md's commands: `pg_dump -Fc` while the bot runs, `pg_restore --clean --if-exists` over the
    database while it is stopped. What was filed before the dump is back, what came after is gone, and the bot runs
    on the restored database: the next report takes the next number (the sequences came back too)."""
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        if REQUIRE_PG:
            pytest.fail("pg_dump and pg_restore are needed (postgresql-client)")
        pytest.skip("pg_dump and pg_restore are not installed")
    url = await create_pg_database()
    libpq = url.replace("postgresql+asyncpg://", "postgresql://")
    dump = Path(tempfile.mkdtemp()) / "kuaibao.dump"
    try:
        async with running(fake_api, url) as h:
            await h.seed()
            first = await file_short_report(Reporter(fake_api, 1002))
            await tool("pg_dump", "-Fc", "-f", str(dump), libpq)
            async with h.repos() as repos:  # after the dump: lost by the restore
                await add_unit(repos, "test", "later", "后来的单位", None)
        await tool("pg_restore", "--clean", "--if-exists", "-d", libpq, str(dump))
        async with running(fake_api, url) as h:
            async with h.repos() as repos:
                assert await repos.units.by_code("later") is None
                assert (await repos.session.scalars(select(Incident.number))).all() == [first]
            second = await file_short_report(Reporter(fake_api, 1002))
            assert int(second[-4:]) == int(first[-4:]) + 1
    finally:
        await drop_pg_database(url)
        shutil.rmtree(dump.parent, ignore_errors=True)


async def tool(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()


async def file_short_report(r: Reporter) -> str:
    await r.say("/report")
    await r.tap("刚刚")
    await r.say("河堤")
    await r.tap("现场人员")
    await r.tap("下一步")
    await r.tap("事故灾难")
    await r.tap("火灾")
    await r.say("仓库起火")
    await r.tap("跳过")
    await r.say("无")
    await r.tap("跳过")
    await r.say("已疏散")
    await r.tap("确认")
    await r.tap("下一步")
    done = await r.tap("提交")
    found = re.search(r"KB-\d{8}-\d{4}", done)
    assert found and "初报已提交" in done, done
    return found.group(0)
