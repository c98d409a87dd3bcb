"""Everything a phone can send, at any step, over real HTTP: venues, live locations, albums, documents,
forwards, stickers, voice notes, contacts, polls, blank text, double taps, and a draft of an old form."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from sqlalchemy import select

from bot.app.sandbox.botapi import BOT_ID, FakeBotAPI
from storage.models import FsmRecord, Report
from tests.conftest import Harness
from tests.reporting import Reporter

UID = 1002


async def quiet_after(api: FakeBotAPI, chat_id: int, before: int, wait: float = 0.6) -> int:
    """Everything injected was fetched and handled, and nothing new appeared in the chat."""
    await api.drained()
    await asyncio.sleep(wait)
    return len(api.in_chat(chat_id)) - before


async def say_extra(r: Reporter, extra: dict[str, Any], **kw: Any) -> str:
    before = len(r.chat)
    await r.api.send_extra(r.uid, extra, **kw)
    return "\n".join(s.text for s in await r.api.settle(r.uid, before))


async def to_description(r: Reporter) -> None:
    await r.say("/report")
    await r.tap("刚刚")
    await r.say("河堤")
    await r.tap("现场人员")
    await r.tap("下一步")
    await r.tap("自然灾害")
    await r.tap("地质灾害")


async def test_a_venue_keeps_name_and_address_and_live_location_updates_get_no_answer(harness: Harness) -> None:
    await harness.seed()
    api, r = harness.api, Reporter(harness.api, UID)
    await r.say("/report")
    await r.tap("刚刚")
    live = {"location": {"latitude": 30.1, "longitude": 120.1, "live_period": 900}}
    sent = await api.send_extra(UID, live)
    answer = "\n".join(s.text for s in await api.settle(UID, 0))
    assert "实时位置" in answer and "第 2/12 步" in answer
    before = len(r.chat)
    for i in range(3):  # the phone moves: Telegram sends edits of the live location message
        moved = dict(
            sent["message"],
            location={"latitude": 30.1 + i / 100, "longitude": 120.1, "live_period": 900},
            edit_date=int(time.time()),
        )
        await api.push({"edited_message": moved})
    assert await quiet_after(api, UID, before) == 0
    venue = {
        "location": {"latitude": 31.2, "longitude": 121.4},
        "venue": {"location": {"latitude": 31.2, "longitude": 121.4}, "title": "XX化工园区", "address": "XX路88号"},
    }
    answer = await say_extra(r, venue)
    assert "第 3/12 步" in answer
    review = await r.say("/back")
    assert "XX化工园区 XX路88号" in review


async def test_an_album_gets_one_answer_and_every_item_is_kept(harness: Harness) -> None:
    await harness.seed()
    api, r = harness.api, Reporter(harness.api, UID)
    await to_description(r)
    await r.say("山体滑坡")
    await r.tap("跳过")
    await r.say("无")
    await r.tap("跳过")
    await r.say("已疏散")
    await r.tap("确认")
    before = len(r.chat)
    for i in range(4):
        photo = [{"file_id": f"al-{i}", "file_unique_id": f"u-al-{i}", "width": 800, "height": 600}]
        await api.send_extra(UID, {"photo": photo, "media_group_id": "album-1"})
    assert await quiet_after(api, UID, before) == 1
    assert "这一组照片或视频" in r.chat[-1].text
    document = {"document": {"file_id": "doc-1", "file_unique_id": "u-doc-1", "file_name": "现场.pdf"}}
    assert "已收到附件（共 5 个）" in await say_extra(r, document)
    video = {"video": {"file_id": "vid-1", "file_unique_id": "u-vid-1", "width": 1, "height": 1, "duration": 3}}
    assert "已收到附件（共 6 个）" in await say_extra(r, video)
    review = await r.tap("下一步")
    assert "照片 ×4" in review and "文件 ×1" in review and "视频 ×1" in review
    await r.tap("提交")
    async with harness.repos() as repos:
        report = await repos.session.scalar(select(Report))
        kept = [a.file_id for a in await repos.incidents.attachments(report.id)]
    assert kept == ["al-0", "al-1", "al-2", "al-3", "doc-1", "vid-1"]


async def test_wrong_kinds_of_input_where_text_is_expected(harness: Harness) -> None:
    await harness.seed()
    r = Reporter(harness.api, UID)
    await to_description(r)
    assert "这一步需要文字" in await r.sticker()
    contact = {"contact": {"phone_number": "13900000000", "first_name": "张三"}}
    assert "这一步需要文字" in await say_extra(r, contact)
    option = {"persistent_id": "o1", "text": "a", "voter_count": 0}
    poll = {
        "poll": {
            "id": "p1",
            "question": "?",
            "options": [option],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
    }
    assert "这一步需要文字" in await say_extra(r, poll)
    assert "内容不能为空" in await r.say("\u200b \u3000\u2800")
    voice = {"voice": {"file_id": "vo-1", "file_unique_id": "u-vo-1", "duration": 12}}
    answer = await say_extra(r, voice)  # a voice note is kept as an attachment; the text is still asked for
    assert "语音已保存为附件" in answer and "第 6/12 步" in answer
    forwarded = {
        "text": "取消",
        "forward_origin": {"type": "hidden_user", "date": int(time.time()), "sender_user_name": "村民"},
    }
    answer = await say_extra(r, forwarded)  # someone else's words: an answer, never the cancel button
    assert "第 7/12 步" in answer and "确定取消" not in answer


async def test_a_second_tap_before_the_answer_is_not_an_expired_scare(harness: Harness) -> None:
    await harness.seed()
    api, r = harness.api, Reporter(harness.api, UID)
    await r.say("/report")
    screen = api.screen(UID)
    data = screen.button("刚刚")["callback_data"]
    first = await api.press(UID, screen, data)
    second = await api.press(UID, screen, data)  # the phone sent the tap twice before the screen changed
    a1, a2 = await api.answer_to(first), await api.answer_to(second)
    assert not a1.get("text") and not a2.get("text") and not a2.get("show_alert")
    await api.settle(UID, 1)
    assert "第 2/12 步" in api.screen(UID).text
    old = await api.press(UID, screen, screen.button("30分钟前")["callback_data"])  # another button, old screen
    assert "按钮已失效" in (await api.answer_to(old))["text"]
    assert "第 3/12 步" in await r.say("县城东街")  # the next input (handled after the old tap) goes on as usual
    assert not [s for s in api.in_chat(UID) if "按钮已失效" in s.text]  # the alert said it: no copy of the screen


async def test_a_draft_of_an_older_form_restarts_politely(harness: Harness) -> None:
    await harness.seed()
    r = Reporter(harness.api, UID)
    key = DefaultKeyBuilder(with_bot_id=True, with_destiny=True).build(StorageKey(BOT_ID, UID, UID))
    legacy = {
        "form": "initial",
        "token": "0123456789abcdef",
        "started_at": "2026-11-24T01:00:00+00:00",
        "answers": {"occurred_at": "2026-11-24T00:30:00+00:00"},
        "cursor": "place_renamed",
        "mode": "fill",
        "back_to_review": False,
        "prev_mode": None,
        "grade": None,
        "pending_grade": None,
    }
    async with harness.repos() as repos:
        repos.session.add(
            FsmRecord(
                key=key, bot_id=BOT_ID, chat_id=UID, user_id=UID, state="ReportStates:filling", data={"draft": legacy}
            )
        )
    answer = await r.say("河堤")
    assert "表单已更新" in answer and "第 1/12 步" in answer
    assert "第 2/12 步" in await r.tap("刚刚")  # and the new draft works
    async with harness.repos() as repos:
        row = await repos.session.get(FsmRecord, key)
        assert row.state == "form:filling" and row.data["draft"]["version"] >= 2
        row.data = {"draft": {**row.data["draft"], "version": 1}}  # as if a deploy raised the version again
    answer = await r.say("/report")  # no "continue?" offer for a draft that cannot continue
    assert "表单已更新" in answer and "第 1/12 步" in answer and "未完成的" not in answer
