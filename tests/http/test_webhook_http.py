"""Webhook mode (`python -m bot serve`): Telegram posts each update with the secret; it is stored before the 200 and
workers take it from the inbox; several workers on one PostgreSQL run each person's updates once and in order."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.app.runtime import App
from bot.app.sandbox.botapi import FakeBotAPI
from storage.db import create_engine
from storage.models import InboxUpdate
from storage.uow import transaction
from tests.conftest import Harness, harness_settings

SECRET = "s3cret_-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_settings(api: FakeBotAPI, db_url: str, port: int, **extra: Any) -> Any:
    return harness_settings(
        api,
        db_url,
        webhook_url="https://bot.example.org/tg/hook",
        webhook_secret=SECRET,
        webhook_listen=f"127.0.0.1:{port}",
        **extra,
    )


@contextlib.asynccontextmanager
async def worker(api: FakeBotAPI, db_url: str, **extra: Any) -> AsyncIterator[tuple[App, str]]:
    """One `serve` worker in-process; yields it and the URL its webhook really listens on."""
    port = free_port()
    app = App(worker_settings(api, db_url, port, **extra))
    app.worker_id = f"worker-{port}"  # (each worker is a process of its own in production)
    await app.start(polling=False)
    try:
        await app.serve()
        yield app, f"http://127.0.0.1:{port}/tg/hook"
    finally:
        await app.close()


async def stored(app: App, update_id: int) -> InboxUpdate | None:
    async with transaction(app.sessionmaker) as s:
        return await s.scalar(select(InboxUpdate).where(InboxUpdate.update_id == update_id))


async def help_answers(api: FakeBotAPI, chat_id: int, count: int) -> None:
    """Wait until the chat has `count` answers to /help (they list /report)."""
    await api.wait_for(lambda: len([m for m in api.in_chat(chat_id) if "/report" in m.text]) >= count, timeout=20)


def text_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    message = FakeBotAPI()._user_message(user_id, None, {"text": text})
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


async def test_an_update_is_stored_before_the_200_and_nothing_else_gets_in(fake_api: FakeBotAPI, db_url: str) -> None:
    async with worker(fake_api, db_url) as (app, url):
        hook = fake_api.webhook or {}
        assert hook["url"] == "https://bot.example.org/tg/hook" and hook["secret_token"] == SECRET
        assert {"message", "callback_query"} <= set(hook["allowed_updates"])
        await Harness(fake_api, app).seed()
        async with aiohttp.ClientSession() as http:
            # the right secret: stored first, then answered 200, then a worker runs it (李报送 gets /help's answer)
            async with http.post(
                url, json=text_update(501, 1002, "/help"), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            ) as r:
                assert r.status == 200
                assert await stored(app, 501) is not None  # durable before the 200 was read
            await help_answers(fake_api, 1002, 1)
            # a wrong secret, none, a body that is no update: refused, nothing stored, nothing answered
            for headers, body, status in [
                ({"X-Telegram-Bot-Api-Secret-Token": "guess"}, text_update(502, 1002, "/help"), 401),
                ({}, text_update(503, 1002, "/help"), 401),
                ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, {"message": {"text": "no id"}}, 400),
                ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, {"update_id": "504"}, 400),
            ]:
                async with http.post(url, json=body, headers=headers) as r:
                    assert r.status == status
            async with http.post(url, data=b"\xff not json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
                assert r.status == 400
            async with http.get(url.rsplit("/", 2)[0] + "/healthz") as r:
                assert r.status == 200
        for update_id in (502, 503, 504):
            assert await stored(app, update_id) is None
        await asyncio.sleep(0.3)
        assert len([m for m in fake_api.in_chat(1002) if "/report" in m.text]) == 1


async def test_updates_posted_by_telegram_are_answered_and_polling_takes_over_again(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    """The fake Bot API posts as Telegram does (the secret, retries); `run` removes the webhook and polls again."""
    async with worker(fake_api, db_url) as (app, url):
        fake_api.webhook_targets = [url]
        await Harness(fake_api, app).seed()
        await fake_api.send_text(1002, "/help")
        await help_answers(fake_api, 1002, 1)
        assert [status for _id, status in fake_api.webhook_posts] == [200]
    # the worker stopped: Telegram's posts fail and are retried, nothing is lost
    await fake_api.send_text(1002, "/help")
    await fake_api.wait_for(lambda: len(fake_api.webhook_posts) >= 2)
    app = App(harness_settings(fake_api, db_url))
    h = Harness(fake_api, app)
    await h.start()  # long polling: the webhook is deleted at start, and the update waiting at Telegram comes
    try:
        assert fake_api.webhook is None
        await help_answers(fake_api, 1002, 2)
    finally:
        await h.stop()


async def test_two_workers_run_each_persons_updates_once_and_in_order(fake_api: FakeBotAPI, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (SQLite serves one: see the next test)")
    people, each = 12, 8
    async with worker(fake_api, db_url) as (first, url1), worker(fake_api, db_url) as (second, url2):
        fake_api.webhook_targets = [url1, url2]  # a load balancer in front of both
        for n in range(each):
            for person in range(people):
                await fake_api.send_text(7000 + person, "/help" if n % 2 else f"hello {n}")
        total = people * each

        async def all_handled() -> bool:
            async with transaction(first.sessionmaker) as s:
                rows = (await s.execute(select(InboxUpdate.handled_at))).scalars().all()
            return len(rows) == total and all(at is not None for at in rows)

        assert await Harness(fake_api, first).eventually(all_handled, timeout=60)
        assert first.worker is not None and second.worker is not None
        workers = (first.worker, second.worker)

        async def counted() -> bool:  # (a worker counts an update once its answers went out, after the commit)
            return sum(w.handled for w in workers) >= total

        await Harness(fake_api, first).eventually(counted, timeout=10)
        assert first.worker.handled > 0 and second.worker.handled > 0  # both took work
        assert first.worker.handled + second.worker.handled == total  # none twice
        async with transaction(first.sessionmaker) as s:
            rows = (await s.execute(select(InboxUpdate.sender_id, InboxUpdate.update_id, InboxUpdate.handled_at))).all()
        for person in range(people):
            mine = sorted((update_id, at) for sender, update_id, at in rows if sender == 7000 + person)
            assert len(mine) == each
            times = [at for _id, at in mine]
            assert times == sorted(times) and len(set(times)) == each  # handled one after another, in Telegram's order
        await asyncio.sleep(0.3)
        for person in range(people):  # each update answered once: as many answers as updates
            assert len(fake_api.in_chat(7000 + person)) == each


async def test_a_second_worker_on_one_sqlite_database_is_refused(fake_api: FakeBotAPI, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL takes any number of workers")
    from bot.app.runtime import SqliteTaken

    async with worker(fake_api, db_url):
        second = App(worker_settings(fake_api, db_url, free_port()))
        second.worker_id = "another-host:4242"  # (another process)
        await second.start(polling=False)
        try:
            with pytest.raises(SqliteTaken, match="PostgreSQL"):
                await second.serve()
        finally:
            await second.close()


async def test_an_answer_one_process_is_sending_is_not_sent_again_by_another(fake_api: FakeBotAPI, db_url: str) -> None:
    """The outbox's lease: while worker A's send of an answer waits (flood control, a slow Telegram) longer than the
    lease, A renews it and the retry job of process B leaves that answer alone; once A's send is through, it was sent
    once."""
    async with worker(fake_api, db_url, webhook_lease_seconds=5) as (a, url):
        fake_api.webhook_targets = [url]
        await Harness(fake_api, a).seed()
        gate = fake_api.hold("sendMessage")
        await fake_api.send_text(1002, "/help")
        await fake_api.wait_for(lambda: fake_api.held >= 1)  # A is sending it right now
        b = App(harness_settings(fake_api, db_url, webhook_lease_seconds=5))
        b.outbox_retry_after = timedelta(0)  # B would retry anything it may take at once
        try:
            await b.start(polling=False)  # a second process starts: no start-up pass over what A holds
            assert await b.retry_outbox() == 0
            await asyncio.sleep(7)  # longer than the lease: A renewed it
            assert await b.retry_outbox(everything=False) == 0
            gate.set()
            await help_answers(fake_api, 1002, 1)
            await a.outbox.forget_sent()
            assert await b.retry_outbox() == 0
        finally:
            await b.close()
        await asyncio.sleep(0.3)
        assert len([m for m in fake_api.in_chat(1002) if "/report" in m.text]) == 1


async def test_readiness_fails_while_the_database_is_unreachable(fake_api: FakeBotAPI, db_url: str) -> None:
    """/readyz answers 503 with the reason while the database cannot be reached, 200 again once it can; /healthz
    says only that the process is up."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL server to lose")
    async with worker(fake_api, db_url, redis_url=None) as (app, url):
        base = url.rsplit("/", 2)[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/readyz") as r:
                assert r.status == 200
            real = app.engine
            app.engine = create_engine(db_url.replace("127.0.0.1:5432", "127.0.0.1:1"))  # the server is gone
            try:
                async with http.get(base + "/readyz") as r:
                    assert r.status == 503 and "database unreachable" in await r.text()
                async with http.get(base + "/healthz") as r:
                    assert r.status == 200
            finally:
                await app.engine.dispose()
                app.engine = real
            async with http.get(base + "/readyz") as r:
                assert r.status == 200


async def test_a_worker_restarted_on_sqlite_serves_at_once(fake_api: FakeBotAPI, db_url: str) -> None:
    """The SQLite serving lease is given back at a graceful stop: the next process (another pid) may serve at once."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the SQLite serving lease")
    async with worker(fake_api, db_url):
        pass
    async with worker(fake_api, db_url) as (app, _url):  # (another worker id: another process)
        assert app.worker is not None


def metric(text: str, name: str) -> float:
    """A sample's value in Prometheus' text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def test_metrics_count_what_the_worker_did(fake_api: FakeBotAPI, db_url: str) -> None:
    async with worker(fake_api, db_url) as (app, url):
        fake_api.webhook_targets = [url]
        await Harness(fake_api, app).seed()
        base = url.rsplit("/", 2)[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/metrics") as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
                before = await r.text()
            await fake_api.send_text(1002, "/help")
            await help_answers(fake_api, 1002, 1)
            async with http.post(url, json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": "no"}):
                pass
            await asyncio.sleep(0.2)
            async with http.get(base + "/metrics") as r:
                after = await r.text()
        for name, grew in [
            ("kuaibao_updates_received_total", 1),
            ("kuaibao_updates_handled_total", 1),
            ('kuaibao_webhook_refused_total{reason="secret"}', 1),
        ]:
            assert metric(after, name) - metric(before, name) == grew, name
        assert metric(after, 'kuaibao_sends_total{priority="REPLY"}') > metric(
            before, 'kuaibao_sends_total{priority="REPLY"}'
        )
        assert metric(after, "kuaibao_inbox_waiting") == 0 and "kuaibao_outbox_waiting" in after
        assert metric(after, "kuaibao_scheduler_lag_seconds") == 0 and metric(after, "kuaibao_broadcast_queued") == 0
