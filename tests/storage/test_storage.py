"""Repositories, migrations and the SQL FSM storage on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.usecases.onboarding import AdminError, add_unit, add_user, create_invite, redeem_invite, set_roles
from storage.db import create_engine, create_sessionmaker, current_revision, migrate
from storage.fsm import SqlStorage
from storage.uow import unit_of_work
from storage.update import update_transaction


class Form(StatesGroup):
    place = State()


async def test_stairway_upgrade_downgrade_upgrade_every_revision(db_url: str) -> None:
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    revisions = [r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()][::-1]
    assert revisions, "no migrations found"
    engine = create_engine(db_url)
    try:
        for rev in revisions:
            await migrate(engine, rev)
            down = ScriptDirectory.from_config(alembic_config()).get_revision(rev).down_revision
            await migrate(engine, down or "base", downgrade=True)
            await migrate(engine, rev)
            assert await current_revision(engine) == rev
    finally:
        await engine.dispose()


async def test_a_schema_at_head_is_left_alone_without_loading_alembic(db_url: str) -> None:
    """The bot's start on a schema at head does not import Alembic (about 10 MB it would keep for nothing); the
    head it reads from the migration files is Alembic's own."""
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
    engine = create_engine(db_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    start = (
        "import asyncio, sys\n"
        "from storage.db import create_engine, migrate\n"
        "async def main():\n"
        "    engine = create_engine(sys.argv[1])\n"
        "    await migrate(engine)\n"
        "    await engine.dispose()\n"
        "asyncio.run(main())\n"
        "print('alembic' in sys.modules)\n"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", start, db_url, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and out.decode().strip() == "False"


async def test_migrations_build_exactly_the_models(engine) -> None:
    """The schema Alembic builds is the one the models describe (no forgotten migration)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.models import Base

    def diff(conn) -> list:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_unit_tree_users_and_roles(sessionmaker) -> None:
    async with unit_of_work(sessionmaker) as r:
        await add_unit(r, "t", "prov", "省厅", None)
        await add_unit(r, "t", "city", "市局", "prov")
        county = await add_unit(r, "t", "county", "县局", "city")
        await add_user(r, "t", 42, "甲", "county", ["reporter,duty_officer"], "139")
    async with unit_of_work(sessionmaker) as r:
        prov = await r.units.by_code("prov")
        assert await r.units.is_descendant(county.id, prov.id)
        assert not await r.units.is_descendant(prov.id, county.id)
        user = await r.users.by_telegram_id(42)
        assert user.roles == {"reporter", "duty_officer"} and (await r.units.get(user.unit_id)).name == "县局"
        await set_roles(r, "t", 42, ["admin"])
    async with unit_of_work(sessionmaker) as r:
        assert (await r.users.by_telegram_id(42)).roles == {"admin"}
        assert [u.telegram_id for u in await r.users.with_role(county.id, "admin")] == [42]
        actions = [e.action for e in await r.audit.entries()]
        assert actions == ["unit.add", "unit.add", "unit.add", "user.add", "user.set_roles"]


async def test_refusals_say_why(sessionmaker) -> None:
    async with unit_of_work(sessionmaker) as r:
        await add_unit(r, "t", "city", "市局", None)
        await add_user(r, "t", 1, "甲", "city", ["reporter"], None)
    for call, message in [
        (lambda r: add_unit(r, "t", "city", "again", None), "already exists"),
        (lambda r: add_unit(r, "t", "x", "X", "nosuch"), "unknown parent"),
        (lambda r: add_user(r, "t", 1, "dup", "city", ["reporter"], None), "already exists"),
        (lambda r: add_user(r, "t", 2, "b", "nosuch", ["reporter"], None), "unknown unit"),
        (lambda r: add_user(r, "t", 2, "b", "city", ["boss"], None), "unknown role"),
        (lambda r: create_invite(r, "t", "city", "reporter,admin", timedelta(days=1)), "exactly one role"),
    ]:
        with pytest.raises(AdminError, match=message):
            async with unit_of_work(sessionmaker) as r:
                await call(r)


async def test_invite_is_single_use(sessionmaker) -> None:
    async with unit_of_work(sessionmaker) as r:
        await add_unit(r, "t", "city", "市局", None)
        invite = await create_invite(r, "t", "city", "duty_leader", timedelta(hours=1))
    async with unit_of_work(sessionmaker) as r:
        first = await redeem_invite(r, invite.code, 77, "甲")
    async with unit_of_work(sessionmaker) as r:
        second = await redeem_invite(r, invite.code, 78, "乙")
    assert first.outcome == "registered" and first.user.roles == {"duty_leader"}
    assert second.outcome == "used"


async def test_audit_log_is_append_only(sessionmaker) -> None:
    async with unit_of_work(sessionmaker) as r:
        await add_unit(r, "t", "city", "市局", None)
    # SQLite has no TRUNCATE (its "DELETE FROM" without WHERE is the same thing, and refused)
    truncate = () if sessionmaker.kw["bind"].dialect.name == "sqlite" else ("TRUNCATE audit_log",)
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", *truncate):
        with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
            async with unit_of_work(sessionmaker) as r:
                await r.session.execute(text(statement))
    async with unit_of_work(sessionmaker) as r:
        assert len(await r.audit.entries()) == 1


async def test_uow_rolls_back_on_error(sessionmaker) -> None:
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessionmaker) as r:
            await add_unit(r, "t", "city", "市局", None)
            raise RuntimeError("boom")
    async with unit_of_work(sessionmaker) as r:
        assert await r.units.by_code("city") is None


async def test_fsm_state_survives_a_restart(db_url: str) -> None:
    key = StorageKey(bot_id=1, chat_id=10, user_id=10)
    engine = create_engine(db_url)
    await migrate(engine)
    storage = SqlStorage(create_sessionmaker(engine))
    await storage.set_state(key, Form.place)
    await storage.set_data(key, {"answers": {"place": "河堤"}, "step": 3})
    await storage.update_data(key, {"step": 4})
    await engine.dispose()  # the process goes away

    engine = create_engine(db_url)
    storage = SqlStorage(create_sessionmaker(engine))
    assert await storage.get_state(key) == "Form:place"
    assert await storage.get_data(key) == {"answers": {"place": "河堤"}, "step": 4}
    other = StorageKey(bot_id=1, chat_id=11, user_id=11)
    assert await storage.get_state(other) is None and await storage.get_data(other) == {}
    await storage.set_state(key, None)
    await storage.set_data(key, {})
    async with create_sessionmaker(engine)() as s:
        assert (await s.execute(text("SELECT count(*) FROM fsm_state"))).scalar() == 0
    await engine.dispose()


async def test_fsm_writes_join_the_update_transaction(sessionmaker) -> None:
    key = StorageKey(bot_id=1, chat_id=10, user_id=10)
    storage = SqlStorage(sessionmaker)
    with pytest.raises(RuntimeError):
        async with update_transaction(sessionmaker) as tx:
            await tx.fsm(storage.key_builder).set_state(key, Form.place)
            raise RuntimeError("handler failed")
    assert await storage.get_state(key) is None  # rolled back together with the handler's work


async def test_forgetting_sent_answers_deletes_exactly_those_in_one_prepared_statement(sessionmaker) -> None:
    """The outbox forgets sent rows in batches of any size with the same SQL (storage.dialect.one_of): SQLite keeps
    one prepared statement for it instead of one per batch size."""
    from sqlalchemy import event

    from storage.outbox import OutboxStore
    from storage.uow import transaction

    store = OutboxStore(sessionmaker)
    async with transaction(sessionmaker) as s:
        ids = await store.save(s, [f'{{"n": {i}}}' for i in range(7)])
    statements: set[str] = set()
    engine = sessionmaker.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: statements.add(sql))
    await store.forget(ids[:1])
    await store.forget(ids[2:5])
    await store.forget([])
    left = [row[0] for row in await store.left_over()]
    assert left == [ids[1], *ids[5:]]
    assert len([sql for sql in statements if sql.startswith("DELETE")]) == 1


async def test_the_written_report_owed_is_the_open_one_due_last(sessionmaker) -> None:
    """`/report` asks which written report a person owes (DeadlineRepo.latest_open, a read standing alone on the
    driver): the open one due last, never a met one, another kind or another person's."""
    from storage.models import Deadline, Incident, Unit, User
    from storage.uow import transaction

    t0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    async with transaction(sessionmaker) as s:
        unit = Unit(code="u", name="县应急管理局")
        s.add(unit)
        await s.flush()
        people = [User(telegram_id=100 + i, name=f"报送员{i}", unit_id=unit.id) for i in range(2)]
        s.add_all(people)
        await s.flush()
        incidents = [
            Incident(
                number=f"KB-{i}",
                unit_id=unit.id,
                reporter_id=people[0].id,
                category="accident",
                suggested_grade="IV",
                grade="IV",
                occurred_at=t0,
                initial_due_at=t0,
            )
            for i in range(5)
        ]
        s.add_all(incidents)
        await s.flush()
        rows = [
            (0, "written", "open", 1),
            (1, "written", "open", 3),
            (2, "written", "met", 9),
            (3, "initial", "open", 9),
            (4, "written", "open", 2),
        ]
        for i, due, state, hours in rows:
            s.add(
                Deadline(
                    incident_id=incidents[i].id,
                    unit_id=unit.id,
                    reporter_id=people[0].id,
                    rule="r",
                    due=due,
                    start_at=t0,
                    due_at=t0 + timedelta(hours=hours),
                    state=state,
                )
            )
        await s.flush()
        expected, mine, nobody = incidents[1].id, people[0].id, people[1].id
    async with unit_of_work(sessionmaker) as repos:
        assert await repos.deadlines.latest_open(mine, "written") == expected
        assert await repos.deadlines.latest_open(nobody, "written") is None
        assert await repos.deadlines.latest_open(mine, "final") is None
