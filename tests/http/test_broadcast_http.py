"""Early-warning delivery at scale against the fake Bot API with its limits on: every reachable recipient
exactly once with the right status through 429s, 403s, a migrated group and server errors; a reporter is
answered while a broadcast is still going; red goes before blue; one sender at a time across processes."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bot.app.runtime import App
from bot.app.sandbox.botapi import FakeBotAPI
from storage.db import create_engine, create_sessionmaker
from storage.models import DutyGroup, WarningDelivery
from storage.uow import unit_of_work
from tests.broadcasting import groups, people, publish, seed_recipients
from tests.conftest import Harness, running
from tests.reporting import Reporter

BULLETIN = "暴雨"


def bulletins(api: FakeBotAPI) -> Counter[int]:
    """Warning messages each chat received (a send Telegram refused is not one)."""
    return Counter(s.chat_id for s in api.sent if s.method == "sendMessage" and BULLETIN in s.text and s.buttons())


async def states(h: Harness) -> dict[str, int]:
    async with h.repos() as repos:
        q = select(WarningDelivery.state, func.count()).group_by(WarningDelivery.state)
        return {str(k): int(v) for k, v in (await repos.session.execute(q)).all()}


async def finished(h: Harness, timeout: float = 60) -> dict[str, int]:
    async def done() -> dict[str, int] | None:
        s = await states(h)
        return s if s and not s.get("queued") else None

    result = await h.eventually(done, timeout)
    assert result, f"still queued: {await states(h)}"
    return result


async def test_500_recipients_through_429_403_a_migrated_group_and_5xx(fake_api: FakeBotAPI, db_url: str) -> None:
    fake_api.overall_limit = (100, 1.0)  # Telegram's limits, scaled up ×~3 to keep the run short
    fake_api.group_limit = (20, 60.0)
    async with running(fake_api, db_url, send_overall_per_second=100.0) as h:
        unit_id = await seed_recipients(h.app.sessionmaker, 480, 20)
        await h.seed()
        person, group = people(480), groups(20)
        for chat in person[10:13]:
            fake_api.fail_next("sendMessage", "429", chat_id=chat, retry_after=1)
        blocked = person[100:105]
        for chat in blocked:
            fake_api.fail_next("sendMessage", "403", chat_id=chat)
        fake_api.fail_next("sendMessage", "migrate", chat_id=group[3], migrate_to=-1_009_999_999)
        fake_api.fail_next("sendMessage", "500", count=2, chat_id=person[200])

        filed = await publish(h.app.sessionmaker, h.app.dp["update_context"].config, unit_id)
        assert (filed.state, filed.recipients) == ("published", 501)  # 480 people, the publisher, 20 groups
        h.app.broadcaster.wake()
        # a reporter files while the broadcast goes on, and is answered before it ends
        await fake_api.wait_for(lambda: len(bulletins(fake_api)) >= 50, timeout=30)
        answer = await Reporter(fake_api, 1002).say("/report")
        assert "初报" in answer
        assert (await states(h)).get("queued", 0) > 0, "the broadcast finished before the reporter was answered"

        result = await finished(h)
        async with h.repos() as repos:  # the migrated group's id changed everywhere
            assert await repos.session.get(DutyGroup, -1_009_999_999) is not None
            new_id = WarningDelivery.chat_id == -1_009_999_999
            moved = await repos.session.scalar(select(WarningDelivery).where(new_id))
            assert moved is not None and moved.state == "sent"
            refused = await repos.session.scalars(select(WarningDelivery).where(WarningDelivery.chat_id.in_(blocked)))
            assert {d.state for d in refused} == {"unreachable"}
    assert result == {"sent": 496, "unreachable": 5}
    got = bulletins(fake_api)
    reachable = (set(person) | set(group) | {9000, -1_009_999_999}) - set(blocked) - {group[3]}
    assert {chat: n for chat, n in got.items() if n != 1} == {}  # nobody twice
    assert set(got) == reachable  # nobody lost; nothing to the blocked nor to the group's old id
    kinds = Counter(kind for _, _, kind in fake_api.failed_calls)
    assert kinds == {"429": 3, "403": 5, "migrate": 1, "500": 2}


async def test_red_published_during_a_blue_broadcast_goes_first(fake_api: FakeBotAPI, db_url: str) -> None:
    async with running(fake_api, db_url, send_overall_per_second=60.0, warning_approval_levels="") as h:
        unit_id = await seed_recipients(h.app.sessionmaker, 300, 0)
        config = h.app.dp["update_context"].config
        await publish(h.app.sessionmaker, config, unit_id, level="blue", event="寒潮", text="气温骤降")
        h.app.broadcaster.wake()
        await fake_api.wait_for(lambda: sum(1 for s in fake_api.sent if "寒潮" in s.text) >= 30, timeout=30)
        red = await publish(h.app.sessionmaker, config, unit_id, level="red", event="台风", text="台风登陆")
        h.app.broadcaster.wake()
        await finished(h)
    order = [s.text for s in fake_api.sent if s.method == "sendMessage" and ("寒潮" in s.text or "台风" in s.text)]
    last_rain = max(i for i, t in enumerate(order) if "台风" in t)
    blue_after = sum(1 for t in order[last_rain:] if "寒潮" in t)
    assert red.state == "published" and red.recipients == 301
    assert blue_after > 100, "the red warning did not overtake the blue one"


@pytest.mark.postgres
async def test_two_processes_never_both_send_and_one_takes_over_when_the_other_dies(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL")
    async with running(fake_api, db_url, send_overall_per_second=80.0, broadcast_lease_seconds=3.0) as h:
        other = App(h.app.settings)  # a second process: its own engine, notifier and lease holder
        unit_id = await seed_recipients(h.app.sessionmaker, 400, 0)
        await publish(h.app.sessionmaker, h.app.dp["update_context"].config, unit_id)
        second = asyncio.create_task(other.broadcaster.run())
        h.app.broadcaster.wake()
        await fake_api.wait_for(lambda: len(bulletins(fake_api)) >= 100, timeout=30)
        first_sent = h.app.broadcaster.sent
        assert first_sent > 0 and other.broadcaster.sent == 0  # the lease holder sends, the other waits
        # the holder dies without releasing its lease: the other takes over once it runs out
        for task in h.app.background:
            if "Broadcaster.run" in repr(task.get_coro()):
                task.cancel()
        h.app.broadcaster._lease_until = 0.0
        h.app.broadcaster.release = _no_release  # type: ignore[method-assign]
        result = await finished(h, timeout=60)
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
        await other.engine.dispose()
        await other.bot.session.close()
    assert result == {"sent": 401}
    assert other.broadcaster.sent > 0
    got = bulletins(fake_api)
    duplicates = sum(n - 1 for n in got.values())
    assert set(got) == set(people(400)) | {9000}
    assert duplicates <= 64, f"{duplicates} duplicates: more than the sends in flight"


async def _no_release() -> None:
    """A process killed at once releases nothing."""


async def test_sender_lease_is_exclusive(db_url: str) -> None:
    """Two holders on one database: only one holds the lease until it lapses."""
    from datetime import timedelta

    from bot.domain.clock import utcnow
    from storage.db import migrate
    from storage.uow import unit_of_work

    engine = create_engine(db_url)
    await migrate(engine)
    sm = create_sessionmaker(engine)
    now = utcnow()
    try:
        async with unit_of_work(sm) as repos:
            assert await repos.leases.take("broadcast", "a", now, now + timedelta(seconds=10))
        async with unit_of_work(sm) as repos:
            assert not await repos.leases.take("broadcast", "b", now, now + timedelta(seconds=10))
            assert await repos.leases.take("broadcast", "a", now, now + timedelta(seconds=10))  # renewal
        later = now + timedelta(seconds=11)
        async with unit_of_work(sm) as repos:
            assert await repos.leases.take("broadcast", "b", later, later + timedelta(seconds=10))
            assert (await repos.leases.holder("broadcast"))[0] == "b"
    finally:
        await engine.dispose()


@pytest.mark.subprocess
async def test_killed_mid_broadcast_finishes_after_restart_without_losing_anyone(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    """SIGKILL while a 300-recipient warning goes out at 40 messages/s: the next process takes the lease over
    and sends every row still queued; the only duplicates are the sends in flight at the kill."""
    import signal

    from bot.app.settings import load_settings
    from bot.telegram.broadcast import FLUSH_EVERY, WINDOW
    from bot.usecases.common import Config
    from storage.db import migrate
    from tests.subproc import BotProcess, bot_env

    env = bot_env(fake_api, db_url, SEND_OVERALL_PER_SECOND="40", BROADCAST_LEASE_SECONDS="2")
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        sm = create_sessionmaker(engine)
        unit_id = await seed_recipients(sm, 300, 0)
        settings = load_settings({}, environ={}, env_file=None)
        filed = await publish(sm, Config(tz=settings.tz, default_locale="zh_Hans"), unit_id)
    finally:
        await engine.dispose()
    bot = BotProcess(env)
    await bot.start(fake_api)
    try:
        await fake_api.wait_for(lambda: len(bulletins(fake_api)) >= 80, timeout=30)
    finally:
        assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
    at_kill = len(bulletins(fake_api))
    assert at_kill < filed.recipients, "the broadcast finished before the kill"
    await bot.start(fake_api)
    try:
        await fake_api.wait_for(lambda: len(bulletins(fake_api)) >= filed.recipients, timeout=60)
        # everyone has it; the rows answered at the kill but not recorded are still queued and go out again (the
        # bounded duplicates): wait for them too, as the publisher's progress does, before stopping
        engine = create_engine(db_url)
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while asyncio.get_running_loop().time() < deadline:
                async with unit_of_work(create_sessionmaker(engine)) as repos:
                    if not (await repos.warnings.counts(filed.warning_id)).get("queued"):
                        break
                await asyncio.sleep(0.2)
        finally:
            await engine.dispose()
    finally:
        await bot.stop()
    got = bulletins(fake_api)
    assert set(got) == set(people(300)) | {9000}  # nobody lost
    duplicates = sum(n - 1 for n in got.values())
    assert duplicates <= WINDOW + 40 * FLUSH_EVERY, f"{duplicates} duplicates"
    engine = create_engine(db_url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as repos:
            assert await repos.warnings.counts(filed.warning_id) == {"sent": 301, "received": 0}
    finally:
        await engine.dispose()


async def test_a_database_error_before_a_send_is_not_a_failed_delivery(harness: Harness) -> None:
    """The warning cannot be read for some sends (PostgreSQL out of connections, a restarting server): those rows
    stay queued and go a moment later; nobody is marked failed for what was not Telegram's answer."""
    unit_id = await seed_recipients(harness.app.sessionmaker, 20, 0)
    await harness.seed()
    refused = []

    def database_gone(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM warnings" in statement and len(refused) < 3:
            refused.append(statement)
            raise ConnectionError("sorry, too many clients already")

    filed = await publish(harness.app.sessionmaker, harness.app.dp["update_context"].config, unit_id)
    event.listen(harness.app.engine.sync_engine, "before_cursor_execute", database_gone)
    harness.app.broadcaster.wake()
    assert await finished(harness, 30) == {"sent": filed.recipients}
    assert len(refused) == 3
    got = bulletins(harness.api)
    assert set(got) == set(people(20)) | {9000} and max(got.values()) == 1  # everyone, once
