"""Delivery that never holds a person back, never loses a message and never doubles one, over a Bot API
that fails and limits the way Telegram does."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app.sandbox.botapi import FakeBotAPI
from bot.telegram.limiter import Limits, Priority, SendLimiter
from bot.usecases.onboarding import add_user, bind_group
from storage.models import Alert, AlertPart, Incident, OutboxMessage, Report
from tests.conftest import Harness, running
from tests.http.test_report_http import fill_until_review
from tests.reporting import Reporter

COUNTY_GROUP = -100300


async def bind_county(h: Harness, title: str | None = "县值班群") -> None:
    async with h.repos() as repos:
        await bind_group(repos, "test", COUNTY_GROUP, await repos.units.by_code("county"), title, None)


async def rows(h: Harness, model: type) -> int:
    async with h.repos() as repos:
        return int(await repos.session.scalar(select(func.count()).select_from(model)))


def group_texts(api: FakeBotAPI, chat: int = COUNTY_GROUP) -> list[Any]:
    return [s for s in api.in_chat(chat) if s.method == "sendMessage"]


async def test_a_429_storm_mid_form_still_delivers_the_next_screen(fake_api: FakeBotAPI, db_url: str) -> None:
    async with running(fake_api, db_url, send_max_wait=3) as h:
        await h.seed()
        api, r = h.api, Reporter(h.api, 1002)
        await r.say("/report")
        await r.tap("刚刚")
        api.fail_next("sendMessage", "429", count=2, chat_id=1002, retry_after=1)
        assert "第 3/12 步" in await r.say("河堤")  # waited out the flood control, then arrived
        # a storm longer than SEND_MAX_WAIT: the screen stays stored instead of being given up
        h.app.outbox_retry_after = timedelta(hours=1)  # the retry job leaves it to this test
        api.fail_next("sendMessage", "429", count=5, chat_id=1002, retry_after=1)
        await api.send_text(1002, "/back")
        await api.wait_for(lambda: len(api.failures["sendMessage"]) == 1 or None, 15)
        await asyncio.sleep(0.5)
        assert await rows(h, OutboxMessage) == 1  # Telegram never accepted it: kept
        api.failures["sendMessage"].clear()  # the storm is over
        before = len(api.in_chat(1002))
        assert await h.app.retry_outbox(everything=True) == 1  # the retry job, once the storm is over
        assert "第 2/12 步" in api.in_chat(1002)[before].text
        await h.app.outbox.forget_sent()
        assert await rows(h, OutboxMessage) == 0


async def test_flood_control_longer_than_the_cap_is_not_hammered(fake_api: FakeBotAPI, db_url: str) -> None:
    async with running(fake_api, db_url, send_max_wait=3) as h:
        await h.seed()
        api, r = h.api, Reporter(h.api, 1002)
        h.app.outbox_retry_after = timedelta(hours=1)
        api.fail_next("sendMessage", "429", count=1, chat_id=1002, retry_after=3600)
        await api.send_text(1002, "/help")
        await api.wait_for(lambda: not api.failures["sendMessage"] or None, 10)
        await asyncio.sleep(0.5)
        tries = sum(1 for m, p in api.calls if m == "sendMessage" and p.get("chat_id") == 1002)
        assert tries == 1 and await rows(h, OutboxMessage) == 1  # kept, not given up
        assert await h.app.retry_outbox(everything=True) == 0  # the chat is still paused: not even tried
        assert sum(1 for m, p in api.calls if m == "sendMessage" and p.get("chat_id") == 1002) == tries
        assert await rows(h, OutboxMessage) == 1 and r.chat == []


async def test_ten_reports_at_once_to_one_group_keep_its_limit(fake_api: FakeBotAPI, db_url: str) -> None:
    fake_api.group_limit = (20, 6.0)  # Telegram's 20 a minute, with the minute made 6 seconds
    limits = {"send_group_messages": 20, "send_group_period": 6.0, "send_chat_per_second": 20, "send_chat_burst": 50}
    async with running(fake_api, db_url, **limits) as h:
        await h.seed()
        await bind_county(h)
        reporters = [Reporter(h.api, 3000 + i) for i in range(10)]
        async with h.repos() as repos:
            for r in reporters:
                await add_user(repos, "test", r.uid, f"报送{r.uid}", "county", ["reporter"], f"1390000{r.uid}")
        for r in reporters:
            await fill_until_review(r, casualties="无", photos=2)
        screens = [(r, h.api.screen(r.uid)) for r in reporters]
        await asyncio.gather(*[h.api.press(r.uid, s, s.button("提交")["callback_data"]) for r, s in screens])
        api = h.api
        texts = await api.wait_for(lambda: len(group_texts(api)) == 10 and group_texts(api), 30)
        albums = await api.wait_for(
            lambda: (lambda m: len(m) == 20 and m)(
                [s for s in api.in_chat(COUNTY_GROUP) if s.method == "sendMediaGroup"]
            ),
            30,
        )
        assert api.refused_for_rate == []  # every alert on its first pass through the limiter: no 429 at all
        numbers = sorted(t.text.split("\n")[0] for t in texts)
        assert len(set(numbers)) == 10  # each alert once
        sequence = api.in_chat(COUNTY_GROUP)
        for text in texts:
            number = next(w for w in text.text.split() if w.startswith("KB-"))
            photos = [s for s in albums if s.text.startswith(number)]
            assert len(photos) == 2  # attachments once…
            assert all(sequence.index(p) > sequence.index(text) for p in photos)  # …and after their alert

        async def all_recorded() -> bool:
            async with h.repos() as repos:
                return not await repos.session.scalar(select(func.count()).where(Alert.next_attempt_at.is_not(None)))

        assert await h.eventually(all_recorded)  # every part of every alert recorded as accepted


async def test_a_failed_attachment_is_sent_once_at_the_retry(harness: Harness) -> None:
    await harness.seed()
    await bind_county(harness)
    api = harness.api
    api.fail_next("sendPhoto", "500", count=5, chat_id=COUNTY_GROUP)  # the attachment fails, the alert went
    r = Reporter(api, 1002)
    await fill_until_review(r, casualties="无", photos=1)
    await r.tap("提交")
    await api.wait_for(lambda: not api.failures["sendPhoto"] or None, 20)
    await api.wait_for(lambda: "暂未送达" in r.chat[-1].text or None, 10)  # the receipt says it is not there yet
    async with harness.repos() as repos:
        alert = await repos.session.scalar(select(Alert).where(Alert.chat_id == COUNTY_GROUP))
        pending = (await repos.session.scalars(select(AlertPart).where(AlertPart.message_id.is_(None)))).all()
    assert alert.message_id is not None and [p.position for p in pending] == [1]
    assert await harness.app.redeliver_alerts(alert.created_at + timedelta(minutes=2)) == 1
    sends = [s.method for s in api.in_chat(COUNTY_GROUP) if s.method.startswith("send")]
    assert sends == ["sendMessage", "sendPhoto"]  # the text once, the photo once, in that order
    receipt = await api.wait_for(lambda: "已送达" in r.chat[-1].text and r.chat[-1], 10)
    assert "县值班群" in receipt.text
    first_receipt = next(s for s in api.sent if s.chat_id == 1002 and "初报已提交" in s.text)
    assert api.sent.index(first_receipt) < api.sent.index(group_texts(api)[0])  # the reporter hears first


async def test_a_blocked_group_the_receipt_says_so_and_whom_the_bot_told(harness: Harness) -> None:
    await harness.seed()
    await bind_county(harness)
    api, r = harness.api, Reporter(harness.api, 1002)
    api.fail_next("sendMessage", "403", count=3, chat_id=COUNTY_GROUP)  # the bot was removed from the group
    await fill_until_review(r, casualties="无")
    done = await r.tap("提交")
    assert "县值班群" in done and "已通知" not in done  # queued, never "told" before it is true
    await api.wait_for(lambda: "暂未送达" in r.chat[-1].text or None, 10)
    async with harness.repos() as repos:
        t = (await repos.session.scalar(select(Alert))).created_at
    for retry in (1, 2):  # two failed retries: the administrators are told
        await harness.app.redeliver_alerts(t + timedelta(minutes=2 * retry))
    notice = await api.wait_for(lambda: api.in_chat(1001), 10)
    assert "县值班群" in notice[0].text
    receipt = await api.wait_for(lambda: "无法送达" in r.chat[-1].text and r.chat[-1], 10)
    assert "已改为通知：王管理" in receipt.text and receipt.method == "editMessageText"  # the receipt, redrawn


async def test_the_reporter_is_answered_while_the_alert_waits_for_the_group(fake_api: FakeBotAPI, db_url: str) -> None:
    async with running(fake_api, db_url, send_group_messages=1, send_group_period=3600.0) as h:
        await h.seed()
        await bind_county(h)
        api, r = h.api, Reporter(h.api, 1002)
        limiter = h.app.notifier.limiter
        limiter._group(COUNTY_GROUP).take(1, asyncio.get_running_loop().time())  # the group's hour is used up
        await fill_until_review(r, casualties="无")
        receipt = await r.tap("提交")
        assert "初报已提交" in receipt and "已排队" in receipt
        assert "第 1/12 步" in await r.say("/report")  # answered at once, while…
        assert group_texts(api) == []  # …the alert still waits for the group's limit
        async with h.repos() as repos:
            assert (await repos.session.scalar(select(Alert))).message_id is None
            assert await repos.session.scalar(select(func.count()).select_from(Incident)) == 1


async def test_the_same_update_twice_in_one_batch_is_handled_once(harness: Harness) -> None:
    await harness.seed()
    api = harness.api
    message = api._user_message(
        1002, None, {"text": "/report", "entities": [{"type": "bot_command", "offset": 0, "length": 7}]}
    )
    update = {"update_id": 777000, "message": message}
    api.updates += [update, json.loads(json.dumps(update))]  # one getUpdates answer carries it twice
    async with api._changed:
        api._changed.notify_all()
    await api.drained()
    await asyncio.sleep(1.0)
    assert sum("第 1/12 步" in s.text for s in api.in_chat(1002)) == 1


async def test_the_limiter_puts_replies_first_and_keeps_a_group_under_its_limit() -> None:
    limiter = SendLimiter(
        Limits(overall_per_second=1000, chat_per_second=100, chat_burst=100, group_messages=3, group_period=0.5)
    )
    order: list[tuple[str, float]] = []
    start = time.monotonic()

    async def send(chat: int, priority: Priority, tag: str) -> None:
        await limiter.acquire(chat, priority)
        order.append((tag, time.monotonic() - start))

    await asyncio.gather(
        *[send(-1, Priority.BULK, f"bulk{i}") for i in range(4)],
        *[send(-1, Priority.ALERT, f"alert{i}") for i in range(2)],
        *[send(5, Priority.REPLY, "reply")],
    )
    tags = [t for t, _ in order]
    assert tags[0] == "reply" and tags[1:3] == ["alert0", "alert1"]  # the most urgent first
    group_times = sorted(at for t, at in order if t != "reply")
    for i in range(len(group_times) - 3):
        assert group_times[i + 3] - group_times[i] >= 0.45  # never more than 3 in any half second


@pytest.mark.parametrize(("title", "photos"), [("县值班群", 0), (None, 1)])
async def test_the_first_try_redraws_the_receipt_as_the_database_has_it(
    harness: Harness, title: str | None, photos: int
) -> None:
    """The first try redraws the receipt from what filing returned, without reading it back: the same text, with
    the group's title learned from Telegram when the binding had none, as the redraw from the database."""
    await harness.seed()
    await bind_county(harness, title)
    api, r = harness.api, Reporter(harness.api, 1002)
    await fill_until_review(r, casualties="无", photos=photos)
    await r.tap("提交")
    receipt = await api.wait_for(lambda: "已送达" in r.chat[-1].text and r.chat[-1], 10)
    edits = [c[1] for c in api.calls if c[0] == "editMessageText" and c[1].get("message_id") == receipt.message_id]
    drawn = edits[-1]
    assert (f"Group {COUNTY_GROUP}" if title is None else "县值班群") in drawn["text"]
    async with harness.repos() as repos:
        report_id = await repos.session.scalar(select(Report.id))
    await harness.app.courier.update_receipt(report_id)  # the same receipt, read from the database
    edits = [c[1] for c in api.calls if c[0] == "editMessageText" and c[1].get("message_id") == receipt.message_id]
    assert edits[-1] is not drawn and edits[-1] == drawn  # Telegram would answer "message is not modified"


async def test_the_limiter_forgets_idle_chats_and_keeps_the_busy_ones_limited() -> None:
    """A bot that has written to many chats keeps a bucket only for those it wrote to lately: memory stays
    bounded, and a chat written to a moment ago is still held to its limit."""
    from bot.telegram.limiter import CHAT_BUCKETS

    limiter = SendLimiter(Limits(overall_per_second=1_000_000, chat_per_second=2, chat_burst=1))
    for chat in range(1, CHAT_BUCKETS + 1):  # every bucket busy for half a second after its send
        await limiter.acquire(chat)
    assert len(limiter.chats) == CHAT_BUCKETS  # none idle yet: nothing dropped
    await asyncio.sleep(0.6)  # all idle again
    busy = CHAT_BUCKETS + 1
    await limiter.acquire(busy)
    for chat in range(busy + 1, busy + 100):
        await limiter.acquire(chat)
    assert len(limiter.chats) == 100  # the idle ones are gone, the hundred written to now are kept
    with pytest.raises(TimeoutError):  # its second message within half a second still waits for its bucket
        await asyncio.wait_for(limiter.acquire(busy), 0.2)
