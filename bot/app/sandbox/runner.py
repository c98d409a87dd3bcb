"""The sandbox in one process: start, play a drill, keep the chats at the stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from bot.app.runtime import App
from bot.app.sandbox.botapi import TOKEN, FakeBotAPI
from bot.app.sandbox.clock import MovableClock
from bot.app.sandbox.drills import Player, Scenario
from bot.app.sandbox.seed import Office, seed_office, seeded
from bot.app.sandbox.web import SandboxPage
from bot.app.settings import Settings
from bot.usecases.onboarding import list_groups, list_users
from storage.uow import unit_of_work

log = logging.getLogger(__name__)
KEEP_EVERY = 5.0  # seconds between writes of the chats while they change


@dataclass
class Sandbox:
    """A running sandbox (the CLI runs one until Ctrl-C; the tests start and stop theirs)."""

    settings: Settings
    port: int = 8080
    empty: bool = False
    reset: bool = False
    scenario: Scenario | None = None
    drill_waits: bool = True  # a drill starts once a page is open (the tests play theirs at once)
    api: FakeBotAPI = field(default_factory=FakeBotAPI)
    clock: MovableClock = field(default_factory=MovableClock)
    app: App | None = None
    page: SandboxPage | None = None
    player: Player | None = None
    url: str = ""
    office: str = ""  # seeded | empty: what the database was made as (kept beside it)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _web: web.AppRunner | None = None

    @property
    def database(self) -> Path:
        return Path(self.settings.sandbox_database)

    @property
    def state_file(self) -> Path:
        return self.database.with_name(self.database.name + ".chats.json")

    def _wipe(self) -> None:
        for path in (self.database, Path(f"{self.database}-wal"), Path(f"{self.database}-shm"), self.state_file):
            path.unlink(missing_ok=True)

    async def start(self) -> str:
        if self.reset:
            self._wipe()
        state: dict[str, Any] = {}
        if self.state_file.is_file() and self.database.is_file():
            with contextlib.suppress(ValueError, OSError):
                state = json.loads(self.state_file.read_text(encoding="utf-8"))
        try:
            self.clock.offset = timedelta(seconds=max(0.0, float(state.get("clock_offset", 0))))
            self.api.load_state(state.get("api", {}))
        except (KeyError, TypeError, ValueError, AttributeError):  # a damaged file: the chats start empty
            log.warning("%s could not be read; the chats start empty", self.state_file)
            state, self.api, self.clock.offset = {}, FakeBotAPI(), timedelta(0)
        self.api.timestamp = self.clock.timestamp
        self.api.number_messages_from(lambda: int(time.time()))
        base = await self.api.start()
        settings = self.settings.model_copy(
            update={
                "bot_token": SecretStr(TOKEN),
                "bot_api_base": base,
                "database_url": f"sqlite+aiosqlite:///{self.database}",
                "redis_url": None,
                "polling_timeout": 2,
                "webhook_url": None,
            }
        )
        self.app = app = App(settings, clock=self.clock)
        for wake in (app.scheduler.wake, app.broadcaster.wake, app.boards.wake):
            self.clock.listeners.append(_ignoring(wake))
        await app.start()
        self.api.continue_after(await app.inbox.last_update_id())  # (the chats' file may be older than the database)
        # the office is made once, in a new database: a sandbox started --empty stays as its user made it
        self.office = str(state.get("office") or "")
        wanted = self.scenario.office if self.scenario is not None else "empty" if self.empty else "seeded"
        default = seeded()
        office = wanted if isinstance(wanted, Office) else default
        if not self.office and await self._is_fresh():
            if wanted != "empty":
                await seed_office(app.sessionmaker, app.dp["update_context"].config, office)
                app.broadcaster.wake()
            self.office = "empty" if wanted == "empty" else "seeded"
        for chat_id, _unit, title in office.groups:  # (an empty office has the seeded one's groups, unbound)
            self.api.titles.setdefault(chat_id, title)
        strangers = {int(k): str(v) for k, v in state.get("strangers", {}).items()}
        self.page = page = SandboxPage(
            self.api, self.clock, app.catalogs, app.sessionmaker, settings.tz, app.scheduler.next_due, strangers
        )
        page.map = dict(office.map or default.map or {})
        try:
            page.log.load(state.get("log", {}))
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("%s: the chats could not be read; they start empty", self.state_file)
        await page.personas(app.catalogs.default_locale)  # who may act
        self._web = web.AppRunner(page.application(), access_log=None)
        await self._web.setup()
        site = web.TCPSite(self._web, "127.0.0.1", self.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._tasks.append(asyncio.create_task(app.poll()))
        self._tasks.append(asyncio.create_task(self._keep()))
        if self.scenario is not None:
            self.player = await self._player(self.scenario)
            watched = page.opened if self.drill_waits else None
            self._tasks.append(asyncio.create_task(self.player.play(watched)))
        return self.url

    async def _keep(self) -> None:
        """Write the chats every few seconds when they changed: a sandbox killed (not stopped) loses at most these
        seconds of them (its database loses nothing)."""
        saved = self.page.log.changes if self.page else 0
        while True:
            await asyncio.sleep(KEEP_EVERY)
            if self.page is not None and self.page.log.changes != saved:
                saved = self.page.log.changes
                self.save()

    async def _is_fresh(self) -> bool:
        assert self.app is not None
        async with unit_of_work(self.app.sessionmaker) as repos:
            return not await repos.units.all()

    async def _player(self, scenario: Scenario) -> Player:
        assert self.app is not None and self.page is not None
        async with unit_of_work(self.app.sessionmaker) as repos:
            users = await list_users(repos, None)
            groups = await list_groups(repos)
        names = {u.name: u.telegram_id for u in users} | {str(u.telegram_id): u.telegram_id for u in users}
        chats: dict[str, int] = {}
        for g in groups:
            chats.update({g.unit_code: g.chat_id, str(g.chat_id): g.chat_id})
            if g.title:
                chats[g.title] = g.chat_id
        page = self.page
        return Player(
            scenario,
            self.api,
            self.clock,
            names,
            chats,
            page.log.keyboards,
            lambda text: page.log.publish({"kind": "note", "text": text}),
        )

    async def stop(self) -> None:
        await self.api.interrupt_polls()
        if self.app is not None:
            with contextlib.suppress(Exception):
                await self.app.dp.stop_polling()
        for task in self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._web is not None:
            await self._web.cleanup()
        if self.app is not None:
            await self.app.close()
        self.save()
        await self.api.stop()

    def save(self) -> None:
        """Keep the chats beside the database, so the next start shows them (`--reset` forgets both)."""
        if self.page is None:
            return
        state = {
            "office": self.office,
            "clock_offset": self.clock.offset.total_seconds(),
            "api": self.api.dump_state(),
            "log": self.page.log.dump(),
            "strangers": {str(k): v for k, v in self.page.strangers.items()},
        }
        try:
            temporary = self.state_file.with_name(self.state_file.name + ".tmp")
            temporary.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
            temporary.replace(self.state_file)  # whole or not at all
        except OSError:
            log.exception("could not keep the sandbox's chats in %s", self.state_file)


def _ignoring(wake: Callable[..., None]) -> Callable[[Any], None]:
    return lambda _now: wake()


async def run(sandbox: Sandbox, say: Callable[[str], None]) -> None:
    """Until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        url = await sandbox.start()
        say(url)
        await stop.wait()
    finally:
        await sandbox.stop()
