"""Moving a deployment from SQLite to PostgreSQL (`migrate-data`): every row arrives with its values, new rows get
new ids after the moved ones, and a target that holds data is refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.app.cli import main
from bot.usecases.onboarding import add_unit, add_user, bind_group
from storage.db import create_engine, create_sessionmaker, migrate
from storage.filing import FilingPlan
from storage.models import Incident, Report
from storage.rows import AuditRow
from storage.uow import unit_of_work
from tests.conftest import create_pg_database, drop_pg_database

AT = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


async def test_a_sqlite_deployment_moves_to_postgresql(tmp_path: Path) -> None:
    source = f"sqlite+aiosqlite:///{tmp_path / 'kuaibao.db'}"
    engine = create_engine(source)
    await migrate(engine)
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as r:
        city = await add_unit(r, "test", "city", "市应急管理局", None)
        await add_unit(r, "test", "county", "县应急管理局", "city")
        user = await add_user(r, "test", 1002, "李报送", "county", ["reporter"], "13800000002")
        await bind_group(r, "test", -100200, city, "市值班群", None)
        incident = Incident(
            number="~1",
            unit_id=user.unit_id,
            reporter_id=user.id,
            category="accident",
            grade="IV",
            suggested_grade="IV",
            occurred_at=AT,
            initial_due_at=AT,
            created_at=AT,
            deaths=1,
            place_text="XX镇 <b>",
            latitude=31.2,
        )
        report = Report(
            kind="initial",
            draft_token="t1",
            reporter_id=user.id,
            started_at=AT,
            submitted_at=AT,
            fields={"place": {"text": "XX镇 <b>", "lat": 31.2}, "casualties": {"deaths": 1}},
        )
        audit = AuditRow("tg:1002", "report.submit", "incident", "", after={"kind": "initial"}, at=AT)
        number = await r.filing.file(FilingPlan(incident, report, "20260701", audit))
    await engine.dispose()
    target = await create_pg_database()
    try:
        runner = CliRunner()
        moved = await asyncio.to_thread(runner.invoke, main, ["migrate-data", "--from", source, "--to", target])
        assert moved.exit_code == 0, moved.output
        assert "incidents: 1" in moved.output and "users: 1" in moved.output
        pg = create_engine(target)
        try:
            async with unit_of_work(create_sessionmaker(pg)) as r:
                found = await r.incidents.by_number(str(number))
                assert found is not None and (found.deaths, found.place_text, found.occurred_at) == (1, "XX镇 <b>", AT)
                (stored,) = await r.incidents.reports(found.id)
                assert stored.fields == {"place": {"text": "XX镇 <b>", "lat": 31.2}, "casualties": {"deaths": 1}}
                assert (await r.groups.by_chat(-100200)) is not None
                later = await add_unit(r, "test", "town", "乡镇", "county")  # a new id after the moved ones
                assert later.id > max(u.id for u in await r.units.all() if u.code != "town")
        finally:
            await pg.dispose()
        again = await asyncio.to_thread(runner.invoke, main, ["migrate-data", "--from", source, "--to", target])
        assert again.exit_code == 1 and "already holds data" in again.output
    finally:
        await drop_pg_database(target)


def test_a_url_that_is_no_database_is_named_without_its_password() -> None:
    result = CliRunner().invoke(main, ["migrate-data", "--from", "mysql://root:hunter2@db/x", "--to", "sqlite://"])
    assert result.exit_code == 2 and "hunter2" not in result.output


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
