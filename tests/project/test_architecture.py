"""The layering contracts (import-linter, [tool.importlinter] in pyproject) hold, and they do catch a breach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"
CONTRACTS = 7


def lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def test_import_contracts_hold() -> None:
    proc = lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Contracts: {CONTRACTS} kept, 0 broken." in proc.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("conversations/engine.py", "import aiogram", "pure core"),
        ("bot/usecases/reports.py", "import bot.telegram.keyboards", "Use cases know nothing of Telegram"),
        ("handlers/common.py", "import storage.repositories", "Handlers reach the database only through"),
        ("bot/usecases/alerts.py", "import bot.usecases.onboarding", "do not reach into each other"),
        ("storage/uow.py", "import bot.usecases.common", "Layers"),
        ("storage/update/__init__.py", "import storage.repositories.users", "The update pipeline stands apart"),
        ("bot/usecases/reports.py", "import storage.filing.postgres", "nobody picks a database"),
    ],
)
def test_a_breach_is_caught(tmp_path: Path, module: str, line: str, contract: str) -> None:
    for item in ("bot", "conversations", "handlers", "storage", "pyproject.toml"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    proc = lint(tmp_path)
    assert proc.returncode != 0 and "BROKEN" in proc.stdout and contract in proc.stdout.replace("\n", " ")
