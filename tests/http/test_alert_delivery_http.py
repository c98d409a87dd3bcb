"""A duty-group alert Telegram did not accept is sent again, and administrators hear when a group is unreachable."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.domain.clock import utcnow
from bot.domain.delivery import GIVE_UP_AFTER, next_retry
from bot.usecases.onboarding import bind_group
from storage.models import Alert, AuditEntry
from tests.conftest import Harness
from tests.http.test_report_http import fill_until_review
from tests.reporting import Reporter

COUNTY_GROUP = -100300


async def submit_county_report(harness: Harness, photos: int = 0) -> str:
    async with harness.repos() as repos:
        await bind_group(repos, "test", COUNTY_GROUP, await repos.units.by_code("county"), "县值班群", None)
    r = Reporter(harness.api, 1002)
    await fill_until_review(r, casualties="无", photos=photos)
    return await r.tap("提交")


async def stored_alert(harness: Harness) -> Alert:
    async with harness.repos() as repos:
        return await repos.session.scalar(select(Alert).where(Alert.chat_id == COUNTY_GROUP))


async def test_an_alert_lost_to_an_outage_is_sent_again_with_its_photos(harness: Harness) -> None:
    await harness.seed()
    api = harness.api
    api.fail_next("sendMessage", "500", count=5, chat_id=COUNTY_GROUP)  # every try right after the commit
    done = await submit_county_report(harness, photos=1)
    assert "初报已提交" in done
    await api.wait_for(lambda: not api.failures["sendMessage"], 15)
    assert not [s for s in api.in_chat(COUNTY_GROUP) if s.method == "sendMessage"]
    alert = await stored_alert(harness)
    assert alert.message_id is None and alert.next_attempt_at is not None
    submitted = alert.created_at

    assert await harness.app.redeliver_alerts(submitted + timedelta(seconds=30)) == 0  # not due yet
    assert await harness.app.redeliver_alerts(submitted + timedelta(seconds=61)) == 1
    text = next(s for s in api.in_chat(COUNTY_GROUP) if s.method == "sendMessage")
    assert "KB-" in text.text and "李报送 13800000002" in text.text and text.button("收到")
    photo = await api.wait_for(lambda: [s for s in api.in_chat(COUNTY_GROUP) if s.method == "sendPhoto"])
    assert len(photo) == 1 and api.in_chat(COUNTY_GROUP).index(photo[0]) > api.in_chat(COUNTY_GROUP).index(text)
    alert = await stored_alert(harness)
    assert (alert.message_id, alert.attempts, alert.next_attempt_at) == (text.message_id, 1, None)
    assert alert.sent_at is not None and alert.last_error is None

    q = await api.press(1004, text, text.button("收到")["callback_data"])
    assert (await api.answer_to(q))["text"] == "已确认收到。"
    assert await harness.app.redeliver_alerts(submitted + timedelta(hours=1)) == 0  # delivered: never twice
    assert sum(s.method == "sendMessage" for s in api.in_chat(COUNTY_GROUP)) == 1


async def test_a_group_that_removed_the_bot_is_retried_and_administrators_are_told(harness: Harness) -> None:
    await harness.seed()
    api = harness.api
    api.fail_next("sendMessage", "403", count=3, chat_id=COUNTY_GROUP)  # the bot was removed from the group
    await submit_county_report(harness)
    await api.wait_for(lambda: len(api.failures["sendMessage"]) == 2)
    t = (await stored_alert(harness)).created_at

    t += timedelta(seconds=61)
    assert await harness.app.redeliver_alerts(t) == 0
    alert = await stored_alert(harness)
    assert alert.attempts == 1 and "Forbidden" in alert.last_error and alert.undelivered_notice_at is None
    assert api.in_chat(1001) == []  # one failed retry: nobody bothered yet

    assert await harness.app.redeliver_alerts(t + timedelta(seconds=30)) == 0  # backing off
    t += timedelta(minutes=1, seconds=1)
    assert await harness.app.redeliver_alerts(t) == 0
    (notice,) = await api.wait_for(lambda: api.in_chat(1001))  # the county has no admin: the city's is told
    assert "快报提醒未能送达值班群「县值班群」" in notice.text and "已尝试 3 次" in notice.text
    assert "KB-" in notice.text and "李报送" in notice.text  # the alert itself reaches a person

    t += timedelta(minutes=2, seconds=1)
    assert await harness.app.redeliver_alerts(t) == 1  # the bot is back in the group
    assert api.in_chat(COUNTY_GROUP)[-1].button("收到")
    _, delivered = await api.wait_for(lambda: api.in_chat(1001)[1:] and api.in_chat(1001))  # told once, then
    assert "已于" in delivered.text and "送达值班群「县值班群」" in delivered.text  # that it got through
    async with harness.repos() as repos:
        actions = [e.action for e in (await repos.session.scalars(select(AuditEntry))).all()]
        assert actions.count("alert.undelivered") == 1 and actions.count("alert.redeliver") == 1


def test_retry_schedule_backs_off_and_gives_up_after_a_day() -> None:
    created = utcnow()
    assert next_retry(created, created, 0) == created + timedelta(seconds=60)
    waits = [next_retry(created, created, n) - created for n in range(1, 6)]
    assert waits == [timedelta(minutes=m) for m in (1, 2, 5, 10, 10)]
    assert next_retry(created, created + GIVE_UP_AFTER, 3) is None
