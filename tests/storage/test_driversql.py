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
from storage.filing import FilingPlan
from storage.models import Alert, AlertPart, Deadline, Incident, Report
from storage.rows import AuditRow, insert_row
from storage.uow import transaction, unit_of_work

AT = datetime(2026, 7, 1, 8, 0, 0, tzinfo=UTC)
AUDIT = AuditRow("tg:700", "report.submit", "incident", "", after={"kind": "initial"}, at=AT)


async def _incident(sessionmaker) -> tuple[int, int, int]:
    """A unit, a person and an incident with its report, written on the driver; (unit, user, incident) ids."""
    async with unit_of_work(sessionmaker) as repos:
        unit = await add_unit(repos, "u1", "u1", "县应急局", None)
        user = await repos.users.add(700, "张三", unit.id, {"reporter"})
        incident = Incident(
            number="~1",
            unit_id=unit.id,
            reporter_id=user.id,
            category="accident",
            grade="IV",
            suggested_grade="IV",
            occurred_at=AT,
            latitude=31.25,
            initial_due_at=AT + timedelta(hours=2),
            created_at=AT,
        )
        report = Report(
            kind="initial",
            draft_token="t1",
            reporter_id=user.id,
            started_at=AT,
            submitted_at=AT,
            fields={"place": {"text": "黄河大堤 <b>", "lat": 31.25}, "n": [1, 2.5, None]},
        )
        assert await repos.filing.file(FilingPlan(incident, report, "20260701", AUDIT)) == "KB-20260701-0001"
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
        again = Incident(
            number="~2",
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
            kind="initial", draft_token="t1", reporter_id=user_id, started_at=AT, submitted_at=AT, fields={}
        )
        assert await repos.filing.file(FilingPlan(again, report, "20260701", AUDIT)) is None
    async with transaction(sessionmaker) as s:
        assert list(await s.scalars(select(Incident.id))) == [first]  # the second incident was taken back


async def test_deadlines_in_one_statement_and_a_rollback_takes_them_back(sessionmaker) -> None:
    unit_id, user_id, incident_id = await _incident(sessionmaker)
    row = {
        "incident_id": incident_id,
        "unit_id": unit_id,
        "reporter_id": user_id,
        "rule": "r",
        "due": "followup",
        "seq": 1,
        "start_at": AT,
        "due_at": AT + timedelta(hours=4),
        "state": "open",
        "late": False,
        "met_at": None,
        "report_id": None,
        "next_at": AT + timedelta(hours=3),
        "done_until": None,
        "created_at": AT,
    }
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
        alert = Alert(
            incident_id=incident_id,
            report_id=report,
            unit_id=1,
            chat_id=-100,
            level="own",
            created_at=AT,
            next_attempt_at=AT,
        )
        await insert_row(repos.session, alert)
        part = AlertPart(alert_id=alert.id, position=0, kind="text", payload={})
        await insert_row(repos.session, part)
    postgres = sessionmaker.kw["bind"].dialect.name == "postgresql"
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessionmaker) as repos:
            await repos.alerts.text_sent(part.id, alert.id, -100, 55, AT, complete=True, alone=True)
            raise RuntimeError("after the write")
    async with transaction(sessionmaker) as s:
        stored = await s.get(Alert, alert.id)
        assert stored is not None
        assert (stored.message_id, stored.next_attempt_at) == ((55, None) if postgres else (None, AT))
    async with unit_of_work(sessionmaker) as repos:  # and in a transaction that goes through, on both
        await repos.alerts.text_sent(part.id, alert.id, -101, 56, AT, complete=False)
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
