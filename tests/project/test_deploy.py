"""What the deploy/ files run is real: the worker command exists with its option, and every setting they pass to the
bot is one the bot reads (a misspelt name would be silently ignored)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.app.cli import main
from bot.app.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS = {name.upper() for name in Settings.model_fields}


def test_the_worker_command_is_the_cli_s() -> None:
    serve = main.commands["serve"]  # type: ignore[attr-defined]
    assert "--workers" in {opt for param in serve.params for opt in param.opts}
    compose = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    assert '["python", "-m", "bot", "serve", "--workers", "${WORKERS:-3}"]' in compose
    unit = (DEPLOY / "kuaibao.service").read_text(encoding="utf-8")
    assert re.search(r"^ExecStart=\S+/python -m bot serve --workers \d+$", unit, re.M)


def test_every_setting_the_deploy_files_pass_is_one_the_bot_reads() -> None:
    compose = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    bot = compose.split("\n  bot:\n", 1)[1].split("\n  proxy:\n", 1)[0]
    environment = bot.split("environment:\n", 1)[1].split("\n    depends_on:", 1)[0]
    passed = set(re.findall(r"^\s+([A-Z_]+):", environment, re.M))
    assert passed and passed <= SETTINGS, passed - SETTINGS
    example = {line.split("=", 1)[0] for line in (DEPLOY / "env.example").read_text().splitlines() if "=" in line}
    assert example - {"POSTGRES_PASSWORD", "WORKERS"} <= SETTINGS
    unit = (DEPLOY / "kuaibao.service").read_text(encoding="utf-8")
    named = set(re.findall(r"\b(BOT_TOKEN|WEBHOOK_[A-Z_]+|DATABASE_URL|REDIS_URL)\b", unit))
    assert named <= SETTINGS
