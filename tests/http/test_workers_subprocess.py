"""Three `python -m bot serve` workers on one PostgreSQL behind one URL while people fill reports: one is SIGKILLed
mid-load and another restarted. Nothing is lost, nothing handled twice, each person's updates handled in Telegram's
order."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.app.sandbox.botapi import FakeBotAPI, Sent
from bot.usecases.onboarding import add_unit, add_user, bind_group
from storage.db import create_engine, create_sessionmaker, migrate
from storage.models import InboxUpdate, Incident, Report, User
from storage.uow import transaction, unit_of_work
from tests.http.test_webhook_http import SECRET, free_port
from tests.reporting import Reporter
from tests.subproc import BotProcess, bot_env, cli

PEOPLE = 8
COUNTY_GROUP = -100300
# A killed worker's answers are sent by another one lease (WEBHOOK_LEASE_SECONDS, 5 s here) after its death, at the
# next retry pass (every 10 s, for answers older than 5 s): the bound within which every answer arrives.
ANSWER_BOUND = 5 + 10 + 5 + 5.0


class Person(Reporter):
    """A reporter whose phone may show an answer twice: a worker killed after Telegram accepted an answer and before
    it forgot it leaves the answer stored, and another worker sends it again after the lease. A person reads past a
    repeat; each step waits for the bot's new answer (within ANSWER_BOUND) and taps on the newest screen that is
    not a repeat."""

    def fresh(self) -> list[Sent]:
        seen: set[str] = set()
        out = []
        for sent in self.chat:
            key = json.dumps([sent.method, sent.message_id if sent.method != "sendMessage" else 0, sent.raw,
                              sent.reply_markup], sort_keys=True)  # fmt: skip
            if key not in seen:
                seen.add(key)
                out.append(sent)
        return out

    async def _after(self, action: Any) -> list[Sent]:
        before = len(self.fresh())
        await action
        await self.api.wait_for(lambda: len(self.fresh()) > before, ANSWER_BOUND)
        count = -1
        while count != len(self.fresh()):
            count = len(self.fresh())
            await asyncio.sleep(0.2)
        return self.fresh()[before:]

    def screen(self) -> Sent:
        now: dict[int, Sent] = {}
        for sent in self.fresh():
            now[sent.message_id] = sent
        return next(now[i] for i in sorted(now, reverse=True) if now[i].reply_markup)

    async def tap(self, label: str) -> str:
        screen = self.screen()
        button = screen.button(label)
        if "callback_data" not in button:
            return await self.say(button["text"])
        return "\n".join(s.text for s in await self._after(self.api.press(self.uid, screen, button["callback_data"])))

    def buttons(self) -> list[str]:
        return [b["text"] for b in self.screen().buttons()]

    async def file_report(self, n: int) -> str:
        """The whole initial report, as tests/http/test_report_http.py fills it; returns the confirmation."""
        await self.say("/report")
        await self.tap("30分钟前")
        await self.share_location(31.2 + n / 100, 121.4)
        await self.say(f"XX镇{n}村 G205 国道")
        await self.tap("现场人员")
        await self.tap("下一步")
        await self.tap("事故灾难")
        await self.tap("交通运输事故")
        await self.say(f"第{n}起：货车与大巴相撞，人员受困")
        await self.tap("跳过")
        await self.say("死亡1 受伤2")
        await self.say("50万")
        await self.say("已封闭道路")
        await self.tap("确认")  # the profile's name and phone
        review = await self.tap("下一步")  # no photos
        assert "请核对后提交" in review, review
        return await self.tap("提交")


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
    """Eight reporters fill whole initial reports at once through three workers; one worker is SIGKILLed a third of
    the way in, another restarted (a deploy) two thirds in. Every report is filed once, every alert reaches the duty
    group, every update is handled once and each person's in Telegram's order, every answer within ANSWER_BOUND."""
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL")
    engine = create_engine(db_url)
    await migrate(engine)
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as r:
        county = await add_unit(r, "test", "county", "县应急管理局", None)
        for person in range(PEOPLE):
            await add_user(r, "test", 8000 + person, f"报送员{person}", "county", ["reporter"], f"1390000{person:04d}")
        await bind_group(r, "test", COUNTY_GROUP, county, "县值班群", None)
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

    async def handled() -> list[tuple[int, int, Any]]:
        async with transaction(sessions) as s:
            rows = (await s.execute(select(InboxUpdate.sender_id, InboxUpdate.update_id, InboxUpdate.handled_at))).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    steps = 16 * PEOPLE  # updates the reporters send (give or take a photo-free form's taps)

    def numbers_in(chat: int) -> set[str]:
        return {m.group(0) for m in (re.search(r"KB-\d{8}-\d{4}", s.text) for s in fake_api.in_chat(chat)) if m}

    async def until_handled(count: int) -> None:
        for _ in range(3000):
            if len(await handled()) >= count:
                return
            await asyncio.sleep(0.1)

    async def chaos() -> None:
        await until_handled(steps // 3)
        await workers[0].stop(signal.SIGKILL)  # mid-load: its leases run out, the others take its updates
        assert len(numbers_in(COUNTY_GROUP)) < PEOPLE  # reports were being filed
        await until_handled(2 * steps // 3)
        await workers[1].stop(signal.SIGTERM)  # a restart (a deploy)
        await workers[1].launch()
        await healthy(ports[1])

    workers = [worker(port) for port in ports]
    try:
        for w, port in zip(workers, ports, strict=True):
            await w.launch()
            await healthy(port)
        fake_api.webhook_targets = [f"http://127.0.0.1:{port}/tg" for port in ports]
        people = [Person(fake_api, 8000 + n) for n in range(PEOPLE)]
        trouble = asyncio.create_task(chaos())
        done = await asyncio.wait_for(asyncio.gather(*(p.file_report(n) for n, p in enumerate(people))), 240)
        await asyncio.wait_for(trouble, 60)
        numbers = [re.search(r"KB-\d{8}-\d{4}", text) for text in done]
        assert all(numbers) and all("初报已提交" in text for text in done), done
        assert any(isinstance(status, str) for _id, status in fake_api.webhook_posts)  # the dead one was posted to

        rows = await handled()
        assert all(at is not None for _s, _u, at in rows)  # every update stored was handled
        for person in range(PEOPLE):
            mine = sorted((update_id, at) for sender, update_id, at in rows if sender == 8000 + person)
            times = [at for _id, at in mine]
            assert times == sorted(times) and len(set(times)) == len(times)  # in Telegram's order, one at a time
        async with transaction(sessions) as s:
            filed = (
                await s.execute(select(User.telegram_id, Incident.number).join(User, Incident.reporter_id == User.id))
            ).all()
            reports = (await s.scalars(select(func.count()).select_from(Report))).one()
        assert sorted(filed) == sorted(zip(range(8000, 8000 + PEOPLE), [m.group(0) for m in numbers], strict=True))  # type: ignore[union-attr]
        assert reports == PEOPLE  # each filed once
        alerted = await fake_api.wait_for(lambda: len(numbers_in(COUNTY_GROUP)) == PEOPLE or None, ANSWER_BOUND)
        assert alerted and numbers_in(COUNTY_GROUP) == {m.group(0) for m in numbers}  # type: ignore[union-attr]
        sent_alerts = [s for s in fake_api.in_chat(COUNTY_GROUP) if s.method == "sendMessage"]
        assert PEOPLE <= len(sent_alerts) <= 2 * PEOPLE  # each at least once; a repeat only from the killed worker
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
        # a worker runs two at once and keeps up to 4× that: the kernel may hand every connection to one worker,
        # which then leaves the rest to the other's claim (what a full worker does)
        UPDATES_IN_FLIGHT="2",
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
        assert len({by for by, _at in rows}) == 2  # both of gunicorn's workers took updates (received or claimed)
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
