"""Three `python -m bot serve` workers on one PostgreSQL behind one URL while people type: one is SIGKILLed mid-load
and another restarted. Nothing is lost, nothing handled twice, each person's updates handled in Telegram's order."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest
from sqlalchemy import select

from bot.usecases.onboarding import add_unit, add_user
from storage.db import create_engine, migrate
from storage.models import InboxUpdate, OutboxMessage
from storage.uow import transaction, unit_of_work
from tests.fakebotapi import FakeBotAPI
from tests.http.test_webhook_http import SECRET, free_port
from tests.subproc import BotProcess, bot_env, cli

PEOPLE, EACH = 10, 12


async def healthy(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker on {port} never came up")
            await asyncio.sleep(0.2)


async def test_three_workers_lose_nothing_when_one_is_killed_and_another_restarted(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL")
    engine = create_engine(db_url)
    await migrate(engine)
    from storage.db import create_sessionmaker

    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as r:
        await add_unit(r, "test", "county", "县应急管理局", None)
        for person in range(PEOPLE):
            await add_user(r, "test", 8000 + person, f"报送员{person}", "county", ["reporter"], None)
    ports = [free_port() for _ in range(3)]

    def worker(port: int) -> BotProcess:
        env = bot_env(
            fake_api,
            db_url,
            WEBHOOK_URL="https://bot.example.org/tg",
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_LISTEN=f"127.0.0.1:{port}",
            WEBHOOK_LEASE_SECONDS="5",
        )
        return BotProcess(env, command="serve")

    workers = [worker(port) for port in ports]
    try:
        for w, port in zip(workers, ports, strict=True):
            await w.launch()
            await healthy(port)
        fake_api.webhook_targets = [f"http://127.0.0.1:{port}/tg" for port in ports]
        for n in range(EACH):
            for person in range(PEOPLE):
                await fake_api.send_text(8000 + person, "/help" if n % 2 else "/start")
            if n == 4:
                await workers[0].stop(signal.SIGKILL)  # mid-load: its leases run out, the others take its updates
            if n == 7:
                await workers[1].stop(signal.SIGTERM)  # a restart (a deploy)
                await workers[1].launch()
                await healthy(ports[1])
        total = PEOPLE * EACH
        deadline = time.monotonic() + 90
        while True:
            async with transaction(sessions) as s:
                rows = (
                    await s.execute(select(InboxUpdate.sender_id, InboxUpdate.update_id, InboxUpdate.handled_at))
                ).all()
            if len(rows) == total and all(at is not None for _s, _u, at in rows):
                break
            assert time.monotonic() < deadline, f"{sum(1 for r in rows if r[2])} of {total} handled"
            await asyncio.sleep(0.5)
        assert any(isinstance(status, str) for _id, status in fake_api.webhook_posts)  # the dead one was posted to
        for person in range(PEOPLE):
            mine = sorted((update_id, at) for sender, update_id, at in rows if sender == 8000 + person)
            times = [at for _id, at in mine]
            assert len(mine) == EACH and times == sorted(times) and len(set(times)) == EACH  # in order, one at a time
        await asyncio.sleep(1.0)
        async with transaction(sessions) as s:
            waiting = len((await s.execute(select(OutboxMessage.id))).all())
        answers = sum(len(fake_api.in_chat(8000 + person)) for person in range(PEOPLE))
        # every update answered, or its answer still stored (a killed worker's, sent once its lease runs out);
        # at most the killed worker's answers in flight were sent twice
        assert answers + waiting >= total
        assert answers <= total + 64
    finally:
        for w in workers:
            if w.proc is not None:
                await w.stop(signal.SIGTERM)
        await engine.dispose()


async def test_serve_with_workers_runs_them_under_gunicorn_on_one_port(fake_api: FakeBotAPI, db_url: str) -> None:
    """`serve --workers 2`: gunicorn forks two workers sharing the port; both take updates; SIGTERM stops them."""
    if not db_url.startswith("postgresql"):
        env = bot_env(fake_api, db_url, WEBHOOK_URL="https://bot.example.org/tg", WEBHOOK_SECRET=SECRET)
        code, _out, err = await cli(env, "serve", "--workers", "2")
        assert code == 2 and "PostgreSQL" in err  # refused, with the reason
        return
    port = free_port()
    env = bot_env(
        fake_api,
        db_url,
        WEBHOOK_URL="https://bot.example.org/tg",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN=f"127.0.0.1:{port}",
    )
    proc = BotProcess(env, command="serve --workers 2")
    await proc.launch()
    try:
        await healthy(port, timeout=60)
        fake_api.webhook_targets = [f"http://127.0.0.1:{port}/tg"]
        people, each = 16, 4
        for n in range(each):
            for person in range(people):
                await fake_api.send_text(9000 + person, "/start" if n % 2 else "/help")
        engine = create_engine(db_url)
        from storage.db import create_sessionmaker

        sessions = create_sessionmaker(engine)
        deadline = time.monotonic() + 60
        try:
            while True:
                async with transaction(sessions) as s:
                    rows = (await s.execute(select(InboxUpdate.leased_by, InboxUpdate.handled_at))).all()
                if len(rows) == people * each and all(at is not None for _by, at in rows):
                    break
                assert time.monotonic() < deadline
                await asyncio.sleep(0.3)
        finally:
            await engine.dispose()
        assert len({by for by, _at in rows}) == 2  # both of gunicorn's workers took updates
        async with aiohttp.ClientSession() as http:  # any worker answers /metrics for both (multiprocess mode)
            counted = 0.0
            for _ in range(50):  # (a worker counts an update once its answers are out, just after the commit)
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    text = await r.text()
                found = [line for line in text.splitlines() if line.startswith("kuaibao_updates_handled_total ")]
                counted = float(found[0].split()[-1]) if found else 0.0
                if counted >= people * each:
                    break
                await asyncio.sleep(0.1)
            assert counted == people * each
    finally:
        assert await proc.stop(signal.SIGTERM) == 0
