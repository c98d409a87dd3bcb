"""Run `python -m bot …` as a child process against the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from pathlib import Path

from bot.app.sandbox.botapi import TOKEN, FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent


def bot_env(api: FakeBotAPI, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_"))}
    env.update(
        BOT_TOKEN=TOKEN,
        BOT_API_BASE=api.base_url,
        DATABASE_URL=db_url,
        POLLING_TIMEOUT="1",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        SEND_CHAT_BURST="50",  # the tests type faster than any person
        DAILY_SUMMARY_AT="off",  # not at the real 08:00 in a test
    )
    env.update(extra)
    return env


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


class BotProcess:
    """The bot as its own process. Its log goes to a file (`log`): a pipe nobody reads fills up after 64 kB, and
    the bot would then stop, blocked on writing its log."""

    def __init__(self, env: dict[str, str], command: str = "run") -> None:
        self.env = env
        self.command = command  # run (long polling) or serve (a webhook worker)
        self.proc: asyncio.subprocess.Process | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="kuaibao-bot-", suffix=".log", delete=False)  # noqa: SIM115

    async def start(self, api: FakeBotAPI) -> None:
        calls = api.get_updates_calls
        await self.launch()
        await api.wait_for(lambda: api.get_updates_calls > calls, timeout=30)  # polling has begun

    async def launch(self) -> None:
        """Start the process without waiting for it to poll (its start may be held up on purpose)."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *self.command.split(),
            env=self.env,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self.log,
        )

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), 30)
        self.proc = None
        return code
