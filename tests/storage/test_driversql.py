"""Statements run on the driver's connection (storage.driversql): the rows are the ones SQLAlchemy would write and
read back (column defaults, JSON, times), they commit and roll back with the session's transaction, and a statement
the caller says is alone runs on its own on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from bot.usecases.onboarding import add_unit
from storage import driversql
from storage.models import Alert, AlertPart, Deadline, Incident, Report
from storage.repositories import _insert
from storage.uow import transaction, unit_of_work

AT = datetime(2026, 7, 1, 8, 0, 0, tzinfo=UTC)


async def _incident(sessionmaker) -> tuple[int, int, int]:
    """A unit, a person and an incident with its report, written on the driver; (unit, user, incident) ids."""
    async with unit_of_work(sessionmaker) as repos:
        unit = await add_unit(repos, "u1", "u1", "县应急局", None)
        user = await repos.users.add(700, "张三", unit.id, {"reporter"})
        incident = Incident(number="~1", unit_id=unit.id, reporter_id=user.id, category="accident", grade="IV",
                            suggested_grade="IV", occurred_at=AT, latitude=31.25,
                            initial_due_at=AT + timedelta(hours=2), created_at=AT)  # fmt: skip
        report = Report(kind="initial", draft_token="t1", reporter_id=user.id, started_at=AT, submitted_at=AT,
                        fields={"place": {"text": "黄河大堤 <b>", "lat": 31.25}, "n": [1, 2.5, None]})  # fmt: skip
        assert await repos.incidents.add(incident, report, [])
        # what the database or a column default gave is set on the objects, as a flush would
        assert incident.id and report.id and report.incident_id == incident.id
        assert (incident.status, report.seq, report.late, report.incomplete) == ("open", 0, False, False)
        assert report.received_at is not None and report.received_at.tzinfo is not None
        return unit.id, user.id, incident.id


async def test_rows_written_on_the_driver_read_back_through_the_orm(sessionmaker) -> None:
    statements: list[str] = []
    engine = sessionmaker.kw["bind"].sync_engine

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        _, _, incident_id = await _incident(sessionmaker)
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert not [s for s in statements if s.lstrip().upper().startswith("INSERT INTO INCIDENTS")], engine.url
    async with transaction(sessionmaker) as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None
        assert (incident.occurred_at, incident.latitude, incident.status) == (AT, 31.25, "open")
        report = await s.scalar(select(Report).where(Report.incident_id == incident_id))
        assert report is not None
        assert report.fields == {"place": {"text": "黄河大堤 <b>", "lat": 31.25}, "n": [1, 2.5, None]}
        assert report.submitted_at == AT and report.draft_token == "t1"


async def test_the_same_draft_twice_writes_one_report(sessionmaker) -> None:
    unit_id, user_id, first = await _incident(sessionmaker)
    async with unit_of_work(sessionmaker) as repos:
        again = Incident(number="~2", unit_id=unit_id, reporter_id=user_id, category="accident", grade="IV",
                         suggested_grade="IV", occurred_at=AT, initial_due_at=AT, created_at=AT)  # fmt: skip
        report = Report(kind="initial", draft_token="t1", reporter_id=user_id, started_at=AT, submitted_at=AT,
                        fields={})  # fmt: skip
        assert await repos.incidents.add(again, report, []) is False
    async with transaction(sessionmaker) as s:
        assert list(await s.scalars(select(Incident.id))) == [first]  # the second incident was taken back


async def test_deadlines_in_one_statement_and_a_rollback_takes_them_back(sessionmaker) -> None:
    unit_id, user_id, incident_id = await _incident(sessionmaker)
    row = {"incident_id": incident_id, "unit_id": unit_id, "reporter_id": user_id, "rule": "r", "due": "followup",
           "seq": 1, "start_at": AT, "due_at": AT + timedelta(hours=4), "state": "open", "late": False, "met_at": None,
           "report_id": None, "next_at": AT + timedelta(hours=3), "done_until": None, "created_at": AT}  # fmt: skip
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessionmaker) as repos:
            await repos.deadlines.add_rows([row, {**row, "due": "final", "seq": 0}])
            raise RuntimeError("the update failed")
    async with unit_of_work(sessionmaker) as repos:
        assert not await repos.deadlines.of_incident(incident_id)
        await repos.deadlines.add_rows([row, {**row, "due": "final", "seq": 0}])
        assert repos.session.info["wake_at"] == AT + timedelta(hours=3)
    async with transaction(sessionmaker) as s:
        rows = list(await s.scalars(select(Deadline).order_by(Deadline.id)))
        assert [(d.due, d.seq, d.due_at, d.next_at) for d in rows] == [
            ("followup", 1, AT + timedelta(hours=4), AT + timedelta(hours=3)),
            ("final", 0, AT + timedelta(hours=4), AT + timedelta(hours=3)),
        ]


async def test_a_statement_alone_runs_on_its_own_on_postgresql(sessionmaker) -> None:
    """text_sent(alone=True) is the transaction's only write: on PostgreSQL it needs no BEGIN and COMMIT, so it
    stands even if the transaction rolls back after it (the caller's promise is that nothing else follows);
    on SQLite it is part of the transaction as always."""
    _, _, incident_id = await _incident(sessionmaker)
    async with unit_of_work(sessionmaker) as repos:
        report = await repos.session.scalar(select(Report.id).where(Report.incident_id == incident_id))
        alert = Alert(incident_id=incident_id, report_id=report, unit_id=1, chat_id=-100, level="own", created_at=AT,
                      next_attempt_at=AT)  # fmt: skip
        await _insert(repos.session, alert)
        part = AlertPart(alert_id=alert.id, position=0, kind="text", payload={})
        await _insert(repos.session, part)
    postgres = sessionmaker.kw["bind"].dialect.name == "postgresql"
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessionmaker) as repos:
            await repos.incidents.text_sent(part.id, alert.id, -100, 55, AT, complete=True, alone=True)
            raise RuntimeError("after the write")
    async with transaction(sessionmaker) as s:
        stored = await s.get(Alert, alert.id)
        assert stored is not None
        assert (stored.message_id, stored.next_attempt_at) == ((55, None) if postgres else (None, AT))
    async with unit_of_work(sessionmaker) as repos:  # and in a transaction that goes through, on both
        await repos.incidents.text_sent(part.id, alert.id, -101, 56, AT, complete=False)
    async with transaction(sessionmaker) as s:
        stored, sent = await s.get(Alert, alert.id), await s.get(AlertPart, part.id)
        assert stored is not None and sent is not None
        assert (stored.chat_id, stored.message_id, stored.sent_at, sent.message_id) == (-101, 56, AT, 56)


def test_statements_built_per_call_do_not_pile_up() -> None:
    from sqlalchemy import insert

    from storage.db import create_engine

    dialect = create_engine("sqlite://").dialect
    for i in range(driversql._PREPARED_MAX + 10):
        driversql._prepared(insert(Incident.__table__), dialect, (f"k{i}",))
    assert len(driversql._PREPARED) <= driversql._PREPARED_MAX


async def test_a_new_incident_with_everything_it_files_in_one_go(sessionmaker) -> None:
    """IncidentRepo.file_new (PostgreSQL: one statement): the rows refer to each other, ids are set on the objects,
    the incident is numbered with the day's counter and its audit entry says so, and a draft filed before writes
    nothing at all (no second incident, no number taken, no deadline, no alert)."""
    from storage.models import Attachment, AuditEntry, DailyCounter
    from storage.repositories import AuditRow

    async with unit_of_work(sessionmaker) as repos:
        unit = await add_unit(repos, "u1", "u1", "县应急局", None)
        user = await repos.users.add(700, "张三", unit.id, {"reporter"})
        unit_id, user_id = unit.id, user.id

    Rows = tuple[Incident, Report, list[Attachment], list[dict], list[tuple[Alert, list[AlertPart]]], str, str,
                 AuditRow]  # fmt: skip

    def rows(token: str, stand_in: str) -> Rows:
        incident = Incident(number=stand_in, unit_id=unit_id, reporter_id=user_id, category="accident", grade="IV",
                            suggested_grade="IV", occurred_at=AT, initial_due_at=AT, created_at=AT)  # fmt: skip
        report = Report(kind="initial", draft_token=token, reporter_id=user_id, started_at=AT, submitted_at=AT,
                        fields={"what": "塌方"})  # fmt: skip
        files = [Attachment(position=i, kind="photo", file_id=f"f{i}", file_unique_id=f"u{i}") for i in range(2)]
        clock = {"incident_id": None, "unit_id": unit_id, "reporter_id": user_id, "rule": "r", "due": "initial",
                 "seq": 0, "start_at": AT, "due_at": AT, "state": "met", "late": False, "met_at": AT,
                 "report_id": None, "next_at": None, "done_until": None, "created_at": AT}  # fmt: skip
        clocks = [clock, {**clock, "due": "followup", "state": "open", "met_at": None, "next_at": AT}]
        alerts = [(Alert(unit_id=unit_id, chat_id=-100 - n, level="own", created_at=AT, next_attempt_at=AT),
                   [AlertPart(position=m, kind="text" if m == 0 else "media", payload={"m": m}) for m in range(n + 1)])
                  for n in range(2)]  # fmt: skip
        audit = AuditRow("tg:700", "report.submit", "incident", "", after={"kind": "initial"}, at=AT)
        return incident, report, files, clocks, alerts, "20260701", "KB-20260701-", audit

    incident, report, files, clocks, alerts, *numbering = rows("t1", "~1")
    async with unit_of_work(sessionmaker) as repos:
        number = await repos.incidents.file_new(incident, report, files, clocks, alerts, *numbering)
        assert number == incident.number == "KB-20260701-0001"
        assert repos.session.info["wake_at"] == AT
    assert incident.id and report.id and report.incident_id == incident.id and report.received_at is not None
    assert [f.report_id for f in files] == [report.id] * 2 and all(f.id for f in files)
    assert [(a.incident_id, a.report_id) for a, _ in alerts] == [(incident.id, report.id)] * 2
    assert [[(p.alert_id, p.position) for p in parts] for a, parts in alerts] == [
        [(alerts[0][0].id, 0)], [(alerts[1][0].id, 0), (alerts[1][0].id, 1)]]  # fmt: skip
    async with transaction(sessionmaker) as s:
        stored = list(await s.scalars(select(Deadline).order_by(Deadline.id)))
        assert [(d.incident_id, d.report_id, d.due, d.state) for d in stored] == [
            (incident.id, report.id, "initial", "met"), (incident.id, None, "followup", "open")]  # fmt: skip
        parts = list(await s.scalars(select(AlertPart).order_by(AlertPart.id)))
        assert [(p.id, p.alert_id, p.payload) for p in parts] == [
            (p.id, p.alert_id, p.payload) for _, ps in alerts for p in ps]  # fmt: skip
        attached = list(await s.scalars(select(Attachment).order_by(Attachment.position)))
        assert [(a.report_id, a.file_id) for a in attached] == [(report.id, "f0"), (report.id, "f1")]
        stored_incident = await s.get(Incident, incident.id)
        assert stored_incident is not None and stored_incident.number == "KB-20260701-0001"
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "report.submit"))
        assert entry is not None
        assert (entry.entity_id, entry.after, entry.at) == (str(incident.id), {"kind": "initial",
                                                             "number": "KB-20260701-0001"}, AT)  # fmt: skip
    again = rows("t1", "~2")  # (filing numbers the first incident before it commits: its stand-in is free again)
    async with unit_of_work(sessionmaker) as repos:
        assert await repos.incidents.file_new(*again) is None
    async with transaction(sessionmaker) as s:
        assert list(await s.scalars(select(Incident.id))) == [incident.id]
        assert list(await s.scalars(select(DailyCounter.value))) == [1]  # no number taken
        assert len(list(await s.scalars(select(AuditEntry.id).where(AuditEntry.action == "report.submit")))) == 1
        assert len(list(await s.scalars(select(Deadline.id)))) == 2
        assert len(list(await s.scalars(select(Alert.id)))) == 2
        assert len(list(await s.scalars(select(AlertPart.id)))) == 3
