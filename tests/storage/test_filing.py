"""Filing a new incident (storage.filing): one writer, the same rows on both databases, the number formatted in one
place (storage.filing.numbers) and taken last, nothing written for a draft filed before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from bot.usecases.onboarding import add_unit, add_user
from storage.filing import FilingPlan
from storage.filing.numbers import incident_number, number_sql
from storage.models import Alert, AlertPart, Attachment, AuditEntry, DailyCounter, Deadline, Incident, Report
from storage.rows import AuditRow
from storage.uow import transaction, unit_of_work

AT = datetime(2026, 7, 1, 8, 0, 0, tzinfo=UTC)


async def test_the_number_is_formatted_alike_in_python_and_in_sql(sessionmaker) -> None:
    """SQLite numbers an incident in Python, PostgreSQL in the filing statement: the same text, past 9999 too."""
    from sqlalchemy import literal
    from sqlalchemy import select as sa_select

    if sessionmaker.kw["bind"].dialect.name == "sqlite":
        pytest.skip("SQLite numbers in Python only")
    async with transaction(sessionmaker) as s:
        for seq in (1, 42, 9999, 10000, 123456):
            in_sql = await s.scalar(sa_select(number_sql(literal("KB-20260701-"), literal(seq))))
            assert in_sql == incident_number("KB-20260701-", seq)
    assert incident_number("KB-20260701-", 7) == "KB-20260701-0007"


async def test_rows_inserted_without_a_flush_read_back_as_the_orm_stores_them(sessionmaker) -> None:
    """Filing writes its rows with one INSERT … RETURNING each (storage.rows.insert_row): the objects get their ids and
    defaults as a flush would give them, and the rows read back through the ORM hold every value."""
    at = datetime(2026, 7, 1, 8, 30, 0, 5, tzinfo=UTC)
    async with unit_of_work(sessionmaker) as r:
        county = await add_unit(r, "t", "county", "县局", None)
        user = await add_user(r, "t", 42, "甲", "county", ["reporter"], "139")
        incident = Incident(
            number="~1",
            unit_id=county.id,
            reporter_id=user.id,
            category="accident",
            suggested_grade="IV",
            grade="IV",
            occurred_at=at,
            latitude=31.5,
            initial_due_at=at,
        )
        report = Report(
            kind="initial",
            draft_token="t1",
            reporter_id=user.id,
            fields={"place": "黄河 <b>"},
            started_at=at,
            submitted_at=at,
            unknown=[],
        )
        audit = AuditRow("tg:42", "report.submit", "incident", "", {"kind": "initial"})
        await r.filing.file(FilingPlan(incident, report, "20260701", audit))
        alert = await r.alerts.add_alert(
            Alert(
                incident_id=incident.id,
                report_id=report.id,
                unit_id=county.id,
                chat_id=-100,
                level="unit",
                created_at=at,
            )
        )
    assert incident.id and report.incident_id == incident.id and alert.id
    assert (incident.status, report.seq, report.late, alert.attempts) == ("open", 0, False, 0)  # the defaults
    async with unit_of_work(sessionmaker) as r:
        stored = await r.incidents.get(incident.id)
        assert (stored.number, stored.latitude, stored.occurred_at, stored.status) == (
            incident.number,
            31.5,
            at,
            "open",
        )
        assert [(x.fields, x.received_at) for x in await r.incidents.reports(incident.id)] == [
            ({"place": "黄河 <b>"}, report.received_at)
        ]


async def test_an_incident_takes_the_days_next_number_with_its_audit_entry(sessionmaker) -> None:
    """One statement on PostgreSQL, a statement a row on SQLite: the same numbers, four digits at least, the audit
    entry with the number it got, another day counted on its own."""
    at = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    async with unit_of_work(sessionmaker) as r:
        county = await add_unit(r, "t", "county", "县局", None)
        user = await add_user(r, "t", 42, "甲", "county", ["reporter"], "139")
        await r.session.execute(text("INSERT INTO daily_counters (day, value) VALUES ('20260702', 9998)"))
    got = []
    for i, day in enumerate(["20260701", "20260701", "20260702", "20260702"]):
        async with unit_of_work(sessionmaker) as r:
            incident = Incident(
                number=f"~{i}",
                unit_id=county.id,
                reporter_id=user.id,
                category="accident",
                suggested_grade="IV",
                grade="IV",
                occurred_at=at,
                initial_due_at=at,
            )
            report = Report(
                kind="initial",
                draft_token=f"t{i}",
                reporter_id=user.id,
                fields={},
                started_at=at,
                submitted_at=at,
                unknown=[],
            )
            audit = AuditRow("tg:42", "report.submit", "incident", "", {"kind": "initial", "late": False})
            got.append((await r.filing.file(FilingPlan(incident, report, day, audit)), incident.id))
    assert [n for n, _ in got] == ["KB-20260701-0001", "KB-20260701-0002", "KB-20260702-9999", "KB-20260702-10000"]
    async with unit_of_work(sessionmaker) as r:
        for number, incident_id in got:
            assert (await r.incidents.get(incident_id)).number == number
        entries = [e for e in await r.audit.entries("incident") if e.action == "report.submit"]
        assert [(e.entity_id, e.actor, e.after) for e in entries] == [
            (str(i), "tg:42", {"kind": "initial", "late": False, "number": n}) for n, i in got
        ]


async def test_a_new_incident_with_everything_it_files_in_one_go(sessionmaker) -> None:
    """Filing.file (SQLite: a statement a row; PostgreSQL: one statement): the rows refer to each other, ids are set
    on the objects, the incident is numbered with the day's counter and its audit entry says so, and a draft filed
    before writes nothing at all (no second incident, no number taken, no deadline, no alert)."""
    async with unit_of_work(sessionmaker) as repos:
        unit = await add_unit(repos, "u1", "u1", "县应急局", None)
        user = await repos.users.add(700, "张三", unit.id, {"reporter"})
        unit_id, user_id = unit.id, user.id

    def plan(token: str, stand_in: str) -> FilingPlan:
        incident = Incident(
            number=stand_in,
            unit_id=unit_id,
            reporter_id=user_id,
            category="accident",
            grade="IV",
            suggested_grade="IV",
            occurred_at=AT,
            initial_due_at=AT,
            created_at=AT,
        )
        report = Report(
            kind="initial",
            draft_token=token,
            reporter_id=user_id,
            started_at=AT,
            submitted_at=AT,
            fields={"what": "塌方"},
        )
        files = [Attachment(position=i, kind="photo", file_id=f"f{i}", file_unique_id=f"u{i}") for i in range(2)]
        clock = {
            "incident_id": None,
            "unit_id": unit_id,
            "reporter_id": user_id,
            "rule": "r",
            "due": "initial",
            "seq": 0,
            "start_at": AT,
            "due_at": AT,
            "state": "met",
            "late": False,
            "met_at": AT,
            "report_id": None,
            "next_at": None,
            "done_until": None,
            "created_at": AT,
        }
        clocks = [clock, {**clock, "due": "followup", "state": "open", "met_at": None, "next_at": AT}]
        alerts = [
            (
                Alert(unit_id=unit_id, chat_id=-100 - n, level="own", created_at=AT, next_attempt_at=AT),
                [AlertPart(position=m, kind="text" if m == 0 else "media", payload={"m": m}) for m in range(n + 1)],
            )
            for n in range(2)
        ]
        audit = AuditRow("tg:700", "report.submit", "incident", "", after={"kind": "initial"}, at=AT)
        return FilingPlan(incident, report, "20260701", audit, files, clocks, alerts)

    first = plan("t1", "~1")
    incident, report, files, alerts = first.incident, first.report, first.attachments, first.alerts
    async with unit_of_work(sessionmaker) as repos:
        number = await repos.filing.file(first)
        assert number == incident.number == "KB-20260701-0001"
        assert repos.session.info["wake_at"] == AT
    assert incident.id and report.id and report.incident_id == incident.id and report.received_at is not None
    assert [f.report_id for f in files] == [report.id] * 2 and all(f.id for f in files)
    assert [(a.incident_id, a.report_id) for a, _ in alerts] == [(incident.id, report.id)] * 2
    assert [[(p.alert_id, p.position) for p in parts] for a, parts in alerts] == [
        [(alerts[0][0].id, 0)],
        [(alerts[1][0].id, 0), (alerts[1][0].id, 1)],
    ]
    async with transaction(sessionmaker) as s:
        stored = list(await s.scalars(select(Deadline).order_by(Deadline.id)))
        assert [(d.incident_id, d.report_id, d.due, d.state) for d in stored] == [
            (incident.id, report.id, "initial", "met"),
            (incident.id, None, "followup", "open"),
        ]
        parts = list(await s.scalars(select(AlertPart).order_by(AlertPart.id)))
        assert [(p.id, p.alert_id, p.payload) for p in parts] == [
            (p.id, p.alert_id, p.payload) for _, ps in alerts for p in ps
        ]
        attached = list(await s.scalars(select(Attachment).order_by(Attachment.position)))
        assert [(a.report_id, a.file_id) for a in attached] == [(report.id, "f0"), (report.id, "f1")]
        stored_incident = await s.get(Incident, incident.id)
        assert stored_incident is not None and stored_incident.number == "KB-20260701-0001"
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "report.submit"))
        assert entry is not None
        assert (entry.entity_id, entry.after, entry.at) == (
            str(incident.id),
            {"kind": "initial", "number": "KB-20260701-0001"},
            AT,
        )
    again = plan("t1", "~2")  # (filing numbers the first incident before it commits: its stand-in is free again)
    async with unit_of_work(sessionmaker) as repos:
        assert await repos.filing.file(again) is None
    async with transaction(sessionmaker) as s:
        assert list(await s.scalars(select(Incident.id))) == [incident.id]
        assert list(await s.scalars(select(DailyCounter.value))) == [1]  # no number taken
        assert len(list(await s.scalars(select(AuditEntry.id).where(AuditEntry.action == "report.submit")))) == 1
        assert len(list(await s.scalars(select(Deadline.id)))) == 2
        assert len(list(await s.scalars(select(Alert.id)))) == 2
        assert len(list(await s.scalars(select(AlertPart.id)))) == 3
