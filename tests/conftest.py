"""Shared fixtures: databases (SQLite and PostgreSQL), the fake Bot API, the bot running in-process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app.runtime import App
from bot.app.sandbox.botapi import TOKEN, FakeBotAPI
from bot.app.settings import load_settings
from storage.db import create_engine, create_sessionmaker, migrate
from storage.uow import unit_of_work

PG_ADMIN_URL = os.environ.get("KUAIBAO_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("KUAIBAO_REQUIRE_PG") == "1"


async def _pg_admin() -> Any:
    import asyncpg

    dsn = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    return await asyncpg.connect(dsn, timeout=3)


async def create_pg_database() -> str:
    """A fresh, empty PostgreSQL database for one test; skipped (visibly) when no server is reachable."""
    try:
        conn = await _pg_admin()
    except (OSError, Exception) as exc:
        if REQUIRE_PG:
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    name = f"kb_{uuid.uuid4().hex[:12]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await _pg_admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'kuaibao.db'}"
        return
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url)
    await migrate(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.stop()


class Harness:
    """The real bot, polling the fake Bot API over HTTP, with helpers to seed data."""

    def __init__(self, api: FakeBotAPI, app: App) -> None:
        self.api = api
        self.app = app
        self.task: asyncio.Task[None] | None = None
        self.stopped = False

    async def start(self) -> None:
        await self.app.start()
        self.task = asyncio.create_task(self.app.poll())

    async def stop(self) -> None:
        """Stop as SIGTERM does: polling ends, the updates in flight finish, then the app closes (once)."""
        if self.stopped:
            return
        self.stopped = True
        if self.task is not None:
            with contextlib.suppress(RuntimeError):
                await self.app.dp.stop_polling()
            await self.api.interrupt_polls()
            await asyncio.wait_for(self.task, 10)
        await self.app.close()

    async def eventually(self, check: Any, timeout: float = 10.0) -> Any:
        """Poll an async check until it returns something truthy (for effects with no message)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = await check()
            if result or asyncio.get_running_loop().time() > deadline:
                return result
            await asyncio.sleep(0.05)

    def repos(self) -> Any:
        return unit_of_work(self.app.sessionmaker)

    async def seed(self) -> None:
        """Two units in a tree, users of several roles, the city's duty group bound."""
        from bot.usecases.onboarding import add_unit, add_user, bind_group

        async with self.repos() as r:
            city = await add_unit(r, "test", "city", "市应急管理局", None)
            await add_unit(r, "test", "county", "县应急管理局", "city")
            await add_unit(r, "test", "other", "邻县应急管理局", None)
            await add_user(r, "test", 1001, "王管理", "city", ["admin"], "13800000001")
            await add_user(r, "test", 1002, "李报送", "county", ["reporter"], "13800000002")
            await add_user(r, "test", 1003, "张值班", "city", ["duty_officer"], "13800000003")
            await add_user(r, "test", 1004, "赵带班", "county", ["duty_leader", "duty_officer"], "13800000004")
            await add_user(r, "test", 1005, "钱外县", "other", ["reporter"], None)
            await bind_group(r, "test", -100200, city, "市值班群", None)


def harness_settings(fake_api: FakeBotAPI, db_url: str, **overrides: Any) -> Any:
    values = {
        "bot_token": TOKEN,
        "bot_api_base": fake_api.base_url,
        "database_url": db_url,
        "polling_timeout": 1,
        # the tests type faster than any person: a private chat may burst (the limits have tests of their own)
        "send_chat_burst": 50,
        # the daily summary would post at the real 08:00 in every test; its own tests turn it on
        "daily_summary_at": "off",
        **overrides,
    }
    return load_settings(values, environ={}, env_file=None)


@contextlib.asynccontextmanager
async def running(fake_api: FakeBotAPI, db_url: str, **overrides: Any) -> AsyncIterator[Harness]:
    """The real bot with settings of the test's choosing (limits, waits)."""
    h = Harness(fake_api, App(harness_settings(fake_api, db_url, **overrides)))
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


@pytest.fixture
async def harness(fake_api: FakeBotAPI, db_url: str) -> AsyncIterator[Harness]:
    async with running(fake_api, db_url) as h:
        yield h
