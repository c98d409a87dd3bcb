"""The update inbox: an update a crash cut off is handled at the next start, and never twice."""

from __future__ import annotations

import json
from datetime import timedelta

from aiogram.types import ReplyKeyboardRemove, Update
from sqlalchemy import select, text, update

from bot.domain.clock import utcnow
from bot.telegram.notifier import Outgoing
from storage.models import InboxUpdate, Incident, OutboxMessage
from tests.conftest import Harness
from tests.reporting import Reporter


async def test_an_update_cut_off_by_a_crash_is_handled_once_at_the_next_start(harness: Harness) -> None:
    await harness.seed()
    api, app = harness.api, harness.app
    r = Reporter(api, 1002)
    assert "第 1/12 步" in await r.say("/report")
    # what a crash leaves: an update stored and confirmed to Telegram, its handling never committed
    payload = json.dumps({"update_id": 900_001, "message": api._user_message(1002, None, {"text": "30分钟前"})})
    await app.inbox.record([(900_001, payload, None)])
    app.inbox.recorded.clear()  # a new process knows nothing of it but the database
    before = len(api.in_chat(1002))

    assert await app.replay_inbox() == 1
    (answer,) = await api.settle(1002, before)
    assert "第 2/12 步 · 发生地点" in answer.text
    assert await app.replay_inbox() == 0  # handled: not again
    async with harness.repos() as repos:
        row = await repos.session.scalar(select(InboxUpdate).where(InboxUpdate.update_id == 900_001))
        assert row.handled_at is not None

    # Telegram sends it once more (the batch was stored but not yet confirmed when the process died)
    await app.inbox.record([(900_001, payload, None)])
    await app.dp.feed_update(app.bot, Update.model_validate_json(payload, context={"bot": app.bot}))
    assert len(api.in_chat(1002)) == before + 1  # no second answer
    assert "第 1/12 步" in await r.say("/back")  # still at step 2: the re-sent text was not taken as the place


async def test_every_polled_update_is_stored_and_marked_handled(harness: Harness) -> None:
    await harness.seed()
    r = Reporter(harness.api, 1002)
    await r.say("/report")
    await r.tap("30分钟前")
    async with harness.repos() as repos:
        rows = (await repos.session.scalars(select(InboxUpdate))).all()
    assert len(rows) == 2 and all(row.handled_at is not None for row in rows)
    assert (
        "callback_query" in json.loads(rows[1].payload) and json.loads(rows[0].payload)["message"]["text"] == "/report"
    )
    assert await harness.app.prune_inbox() == 0  # kept two days, to recognise a re-sent update


async def test_answers_are_kept_until_sent_and_then_forgotten(harness: Harness) -> None:
    await harness.seed()
    r = Reporter(harness.api, 1002)
    await r.say("/report")
    await r.tap("30分钟前")
    await harness.app.outbox.forget_sent()
    async with harness.repos() as repos:
        assert (await repos.session.scalars(select(OutboxMessage))).all() == []


async def test_an_answer_a_crash_left_is_sent_at_the_next_start_unless_stale(harness: Harness) -> None:
    api, app = harness.api, harness.app
    fresh = Outgoing("send_message", {"chat_id": 1002, "text": "新", "reply_markup": ReplyKeyboardRemove()})
    stale = Outgoing("send_message", {"chat_id": 1002, "text": "旧"})
    async with harness.repos() as repos:
        await app.outbox.save(repos.session, [stale.to_json(), fresh.to_json()])
        old = utcnow() - timedelta(hours=1)
        await repos.session.execute(
            update(OutboxMessage).where(OutboxMessage.payload.contains("旧")).values(created_at=old)
        )
    assert await app.retry_outbox(everything=True) == 1
    (sent,) = await api.settle(1002, 0)
    assert sent.text == "新" and sent.params["reply_markup"] == {"remove_keyboard": True}
    assert await app.retry_outbox(everything=True) == 0  # forgotten once sent


async def test_a_step_that_fails_is_answered_rolled_back_and_not_replayed(harness: Harness) -> None:
    from tests.http.test_report_http import fill_until_review

    await harness.seed()
    api, app = harness.api, harness.app
    r = Reporter(api, 1002)
    await fill_until_review(r, casualties="无")
    async with harness.repos() as repos:  # the database refuses the report's audit entry
        await repos.session.execute(text("DROP TABLE audit_log"))
    answer = await r.tap("提交")
    assert "这一步未保存" in answer and "KB-" not in answer
    async with harness.repos() as repos:
        assert (await repos.session.scalars(select(Incident))).all() == []  # nothing half-written
        assert all(row.handled_at for row in (await repos.session.scalars(select(InboxUpdate))).all())
    assert await app.replay_inbox() == 0  # the person was told to try again: no ghost retry later
    assert "第 12/12 步 · 附件" in await r.say("/back")  # the draft is kept as it was before the failed step
