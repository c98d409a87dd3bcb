"""`python -m bot backup FILE` (SQLite): a consistent copy while the bot runs, and the copy restores as the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner, Result

from bot.app.cli import main


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
