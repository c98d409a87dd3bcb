"""The scheduler under load: a burst of due rows respects Telegram's per-chat and per-group limits and never
piles reminders on one person; two schedulers on one PostgreSQL database never act on the same row twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app.sandbox.botapi import FakeBotAPI
from bot.domain.clock import utcnow
from bot.telegram.scheduler import Scheduler
from bot.usecases.onboarding import bind_group
from storage.db import create_engine, create_sessionmaker
from storage.models import Alert, AlertPart, AuditEntry, Deadline, Incident, Report
from storage.outbox import OutboxStore
from tests.conftest import Harness, running
from tests.http.test_clocks_http import COUNTY_GROUP

FIRST = 300000


async def overdue(h: Harness, reporters: int, each: int, alerts: int = 0) -> tuple[object, object]:
    """`reporters` people of the county, each owing `each` follow-ups now due; and `alerts` delivered alerts
    of grade 较大 in the county's group that nobody acknowledged for 20 minutes."""
    now = utcnow()
    due = now - timedelta(minutes=1)
    async with h.repos() as repos:
        county = await repos.units.by_code("county")
        await bind_group(repos, "test", COUNTY_GROUP, county, "县值班群", None)
        people = [await repos.users.add(FIRST + i, f"报送员{i}", county.id, {"reporter"}) for i in range(reporters)]
        incidents = []
        for n in range(max(reporters * each, alerts)):
            person = people[n % len(people)] if people else await repos.users.by_telegram_id(1002)
            incidents.append(
                Incident(
                    number=f"KB-LOAD-{n:05d}",
                    unit_id=county.id,
                    reporter_id=person.id,
                    category="accident",
                    subtype="traffic",
                    suggested_grade="III",
                    grade="III",
                    occurred_at=due - timedelta(hours=72),
                    status="open",
                    initial_due_at=due - timedelta(hours=70),
                    created_at=due - timedelta(hours=71),
                )
            )
        repos.session.add_all(incidents)
        await repos.session.flush()
        reports = [
            Report(
                incident_id=i.id,
                kind="initial",
                seq=0,
                draft_token=f"t{i.id}",
                reporter_id=i.reporter_id,
                fields={"description": "货车侧翻"},
                started_at=i.created_at,
                submitted_at=i.created_at,
            )
            for i in incidents
        ]
        repos.session.add_all(reports)
        await repos.session.flush()
        for n, incident in enumerate(incidents[: reporters * each]):
            repos.session.add(
                Deadline(
                    incident_id=incident.id,
                    unit_id=county.id,
                    reporter_id=incident.reporter_id,
                    rule="first_followup",
                    due="followup",
                    seq=1,
                    start_at=incident.occurred_at,
                    due_at=due,
                    state="open",
                    late=False,
                    next_at=due - timedelta(hours=36) + timedelta(seconds=n % 7),
                )
            )
        for incident, report in list(zip(incidents, reports, strict=True))[:alerts]:
            alert = Alert(
                incident_id=incident.id,
                report_id=report.id,
                unit_id=county.id,
                chat_id=COUNTY_GROUP,
                message_id=1,
                level="unit",
                sent_at=now - timedelta(minutes=20),
                ack_due_at=now - timedelta(minutes=15),
            )
            repos.session.add(alert)
            await repos.session.flush()
            repos.session.add(AlertPart(alert_id=alert.id, position=0, kind="text", payload={}, message_id=1))
    return now, due


async def test_a_burst_of_500_due_rows_respects_the_limits_and_never_piles_up(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    api = fake_api
    api.group_limit, api.chat_limit = (5, 1.0), (1, 1.0)  # "Telegram" refuses anything faster
    async with running(
        api,
        db_url,
        send_overall_per_second=200,
        send_chat_per_second=1,
        send_chat_burst=1,
        send_group_messages=5,
        send_group_period=1,
    ) as h:
        await h.seed()
        now, _due = await overdue(h, reporters=97, each=5, alerts=15)  # 485 deadlines and 15 alerts: 500 rows
        sent = await h.app.scheduler.tick(now)
        assert not api.refused_for_rate  # the limiter kept every chat and the group under Telegram's limits
        reminders = {
            uid: [s for s in api.in_chat(uid) if s.method == "sendMessage"] for uid in range(FIRST, FIRST + 97)
        }
        assert all(len(messages) == 1 for messages in reminders.values())  # one reminder each, listing five
        assert all(messages[0].text.count("KB-LOAD-") == 5 for messages in reminders.values())
        group = [s for s in api.in_chat(COUNTY_GROUP) if s.method == "sendMessage"]
        assert sum("尚无人确认" in s.text for s in group) == 15  # every unacknowledged alert, once
        assert sum("迟报" in s.text for s in group) == 1  # one notice for the group, not 485
        city = [s for s in api.in_chat(-100200) if s.method == "sendMessage"]
        assert sum("县应急管理局 的警报尚无人确认" in s.text for s in city) == 15  # 20 minutes: both steps due
        assert sent == 97 + 15 + 1 + 15
        async with h.repos() as repos:
            left = await repos.session.scalar(select(func.count()).select_from(Deadline).where(Deadline.next_at <= now))
            assert left == 0
        assert await h.app.scheduler.tick(now) == 0  # nothing fires twice


async def test_two_schedulers_on_postgresql_never_send_the_same_reminder_twice(
    fake_api: FakeBotAPI, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("one process per SQLite database: the claim race is PostgreSQL's")
    async with running(fake_api, db_url, send_overall_per_second=500, send_chat_per_second=100) as h:
        await h.seed()
        # the outbox retry job of this process must not take the other scheduler's rows while it sends them
        # (in production each process has its own; see the session note on the outbox across processes)
        h.app.outbox_retry_after = timedelta(hours=1)
        now, _due = await overdue(h, reporters=40, each=5)
        other_engine = create_engine(db_url)
        try:
            app = h.app
            other_sessions = create_sessionmaker(other_engine)
            other = Scheduler(
                other_sessions, app.catalogs, app.notifier, OutboxStore(other_sessions), app.scheduler.config
            )
            app.scheduler.batch = other.batch = 25  # small claims, so the two interleave
            await asyncio.gather(app.scheduler.tick(now), other.tick(now))
            await other.outbox.forget_sent()  # as its own process would, within seconds
        finally:
            await other_engine.dispose()
        async with h.repos() as repos:
            reminded = list(
                await repos.session.scalars(select(AuditEntry.entity_id).where(AuditEntry.action == "deadline.remind"))
            )
        assert len(reminded) == 200 and len(set(reminded)) == 200  # each row once
        lines = [
            line
            for uid in range(FIRST, FIRST + 40)
            for s in fake_api.in_chat(uid)
            for line in s.text.splitlines()
            if "KB-LOAD-" in line
        ]
        assert len(lines) == 200 and len({line.split()[1] for line in lines}) == 200
