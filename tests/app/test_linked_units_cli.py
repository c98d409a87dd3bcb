"""Operators register linked units from the CLI, one by one or from a CSV: every bad row named with its line, and
with any, nothing stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from bot.app.cli import main


def test_linked_units_from_the_cli_and_a_file(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}", "BOT_TOKEN": ""}

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(main, list(args), env=env)

    assert invoke("admin", "add-unit", "--code", "county", "--name", "县应急管理局").exit_code == 0
    outside = ("--name", "城关派出所", "--parent", "county")  # an outside agency: a unit of its own
    made = invoke("admin", "add-linked-unit", "--unit", "police", "--kind", "police", "--tier", "first", *outside)
    assert made.exit_code == 0 and "registered (police, tier first)" in made.output
    again = invoke("admin", "add-linked-unit", "--unit", "police", "--kind", "police", "--tier", "first")
    assert again.exit_code == 1 and "already" in again.output
    bad = tmp_path / "linked.csv"
    bad.write_text(
        "单位代码,单位名称,上级单位,类别,分级\n"
        "fire,县消防救援大队,county,fire,other\n"
        "power,县供电公司,county,electricity,other\n"  # line 3: an unknown kind
        "water,县水务集团,nowhere,water,other\n",  # line 4: an unknown parent
        encoding="utf-8",
    )
    failed = invoke("admin", "import-linked-units", str(bad))
    assert failed.exit_code == 1
    assert "line 3: unknown kind 'electricity'" in failed.output and "line 4: unknown parent unit" in failed.output
    with sqlite3.connect(tmp_path / "kb.db") as db:
        assert db.execute("SELECT count(*) FROM linked_units").fetchone() == (1,)  # nothing of the file
        assert db.execute("SELECT count(*) FROM units WHERE code = 'fire'").fetchone() == (0,)
    good = tmp_path / "good.csv"
    good.write_text("code,name,parent,kind,tier\nfire,县消防救援大队,county,fire,other\n", encoding="utf-8")
    done = invoke("admin", "import-linked-units", str(good))
    assert done.exit_code == 0 and "1 linked units registered: fire" in done.output
