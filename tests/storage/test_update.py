"""An update's transaction (storage.update): the statements run on the driver's connection store what the
ORM stores, commit and roll back together with the ORM session's work, and a dropped connection is not
handed to the next update."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from sqlalchemy import select, text

from bot.domain.clock import utcnow
from storage.db import create_engine, create_sessionmaker
from storage.fsm import SqlStorage
from storage.inbox import Inbox
from storage.intake import Intake, PostgresIntake
from storage.models import FsmRecord, InboxUpdate, OutboxMessage, Unit
from storage.outbox import OutboxStore
from storage.uow import transaction
from storage.update import HandledElsewhere, HeldConnection, update_transaction

KB = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
KEY = StorageKey(bot_id=1, chat_id=10, user_id=10)
ROW = KB.build(KEY)
OTHER = StorageKey(bot_id=1, chat_id=11, user_id=11)
DRAFT = {"answers": {"place": "黄河大堤 K12+300 <b>", "casualties": {"dead": 0, "missing": 2}}, "n": [1, 2.5, None]}


async def test_rows_written_on_the_driver_read_back_through_the_orm(sessionmaker) -> None:
    storage, outbox = SqlStorage(sessionmaker), OutboxStore(sessionmaker)
    inbox = Inbox(sessionmaker, bot_id=1)
    await inbox.record([(7, '{"update_id": 7}', None)])
    now = datetime.now(UTC) - timedelta(seconds=1)
    async with update_transaction(sessionmaker, inbox=inbox) as tx:
        begun = await tx.begin(7, ROW)
        assert begun.taken is True and begun.people_version >= 1 and begun.row is None
        await tx.fsm(KB).set_state(KEY, "Report:place")
        await tx.fsm(KB).set_data(KEY, DRAFT)
        ids = await outbox.save_in(tx, ['{"m": 1}', '{"m": 2}', '{"m": 3}'])
    async with transaction(sessionmaker) as s:
        row = await s.get(FsmRecord, storage.key_builder.build(KEY))
        assert row is not None
        assert (row.state, row.data, row.chat_id) == ("Report:place", DRAFT, 10)
        # the scheduler compares these times in SQL: the stored text must order like the ORM's own
        found = await s.scalar(select(FsmRecord.key).where(FsmRecord.updated_at > now - timedelta(days=1)))
        assert found == row.key
        stored = (await s.execute(select(OutboxMessage.id, OutboxMessage.payload).order_by(OutboxMessage.id))).all()
        assert [(i, p) for i, p in stored] == list(zip(ids, ['{"m": 1}', '{"m": 2}', '{"m": 3}'], strict=True))
        handled = await s.scalar(select(InboxUpdate.handled_at).where(InboxUpdate.update_id == 7))
        assert handled is not None and handled > now
        assert await s.scalar(select(InboxUpdate.update_id).where(InboxUpdate.handled_at == handled)) == 7
    async with update_transaction(sessionmaker, inbox=inbox) as tx:
        assert (await tx.begin(8, ROW)).taken is None  # never came through the inbox
    async with update_transaction(sessionmaker, inbox=inbox) as tx:
        begun = await tx.begin(7, ROW)
        assert begun.taken is False  # handled: never twice
        assert begun.row == ("Report:place", DRAFT)
        assert await tx.fsm(KB).get_data(KEY) == DRAFT
        await tx.fsm(KB).set_data(OTHER, {"n": 1})  # two rows and the outbox (PostgreSQL: the last two in one go)
        await tx.fsm(KB).set_state(KEY, None)
        await tx.fsm(KB).set_data(KEY, {})
        more = await outbox.save_in(tx, ['{"m": 4}'])
    async with transaction(sessionmaker) as s:
        assert await s.get(FsmRecord, storage.key_builder.build(KEY)) is None  # a cleared conversation: no row
        assert (await s.get(FsmRecord, storage.key_builder.build(OTHER))).data == {"n": 1}  # type: ignore[union-attr]
        assert await s.scalar(select(OutboxMessage.payload).where(OutboxMessage.id == more[0])) == '{"m": 4}'
        assert more[0] > ids[-1]


async def test_driver_statements_and_the_orm_session_commit_or_roll_back_together(sessionmaker) -> None:
    storage, outbox = SqlStorage(sessionmaker), OutboxStore(sessionmaker)
    with pytest.raises(RuntimeError):
        async with update_transaction(sessionmaker) as tx:
            await tx.fsm(KB).set_data(KEY, DRAFT)
            await outbox.save_in(tx, ['{"m": 1}'])
            tx.session.add(Unit(code="X1", name="某县应急管理局", parent_id=None))
            await tx.session.flush()
            raise RuntimeError("the handler failed")
    async with transaction(sessionmaker) as s:
        assert (await s.execute(select(Unit))).first() is None
        assert (await s.execute(select(OutboxMessage))).first() is None
        assert await s.get(FsmRecord, storage.key_builder.build(KEY)) is None
    async with update_transaction(sessionmaker) as tx:
        tx.session.add(Unit(code="X1", name="某县应急管理局", parent_id=None))  # flushed at the commit
        await tx.fsm(KB).set_data(KEY, DRAFT)
        await outbox.save_in(tx, ['{"m": 1}'])
    async with transaction(sessionmaker) as s:
        assert (await s.scalars(select(Unit.name))).all() == ["某县应急管理局"]
        assert (await s.scalars(select(OutboxMessage.payload))).all() == ['{"m": 1}']
        assert (await s.get(FsmRecord, storage.key_builder.build(KEY))).data == DRAFT  # type: ignore[union-attr]


async def test_a_plain_step_opens_no_orm_session(sessionmaker) -> None:
    """The point of the module: an update whose handler needs no ORM never builds a session."""
    async with update_transaction(sessionmaker) as tx:
        await tx.begin(None, ROW)
        await tx.fsm(KB).set_data(KEY, {"a": 1})
        assert tx._session is None
        assert tx.info == {}


async def test_a_connection_the_server_dropped_is_not_given_to_the_next_update(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to drop a connection")
    from storage.db import migrate

    engine = create_engine(db_url, pool_size=1, max_overflow=0)  # one connection: the next update would get it
    try:
        await migrate(engine)
        sessionmaker = create_sessionmaker(engine)
        storage = SqlStorage(sessionmaker)
        async with update_transaction(sessionmaker) as tx:
            await tx.begin(None, ROW)
            pid = await tx.sql.db.fetchval("SELECT pg_backend_pid()")  # type: ignore[union-attr]
        admin = create_engine(db_url)
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await admin.dispose()
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a closed connection
            async with update_transaction(sessionmaker) as tx:
                await tx.begin(None, ROW)
        async with update_transaction(sessionmaker) as tx:  # a new connection, not the dead one
            await tx.begin(None, ROW)
            await tx.fsm(KB).set_data(KEY, DRAFT)
        async with transaction(sessionmaker) as s:
            assert (await s.get(FsmRecord, storage.key_builder.build(KEY))).data == DRAFT  # type: ignore[union-attr]
    finally:
        await engine.dispose()


async def test_the_held_connection_serves_update_after_update_and_is_replaced_when_broken(sessionmaker) -> None:
    """SQLite keeps one connection for updates: a rolled-back update leaves it ready for the next, and one
    that broke is replaced (elsewhere the pool's connections are used and `held` stays empty)."""
    storage, held = SqlStorage(sessionmaker), HeldConnection()
    with pytest.raises(RuntimeError):
        async with update_transaction(sessionmaker, held) as tx:
            await tx.fsm(KB).set_data(KEY, {"n": 1})
            tx.session.add(Unit(code="X1", name="某县应急管理局", parent_id=None))
            raise RuntimeError("the handler failed")
    async with update_transaction(sessionmaker, held) as tx:
        first = tx.conn
        await tx.fsm(KB).set_data(KEY, {"n": 2})
    async with update_transaction(sessionmaker, held) as tx:
        assert (tx.conn is first) == (sessionmaker.kw["bind"].dialect.name == "sqlite")
    if tx.conn is first:
        await first.invalidate()  # as after a broken connection
    async with update_transaction(sessionmaker, held) as tx:
        assert tx.conn is not first
        await tx.fsm(KB).set_data(KEY, {"n": 3})
    async with transaction(sessionmaker) as s:
        assert (await s.execute(select(Unit))).first() is None
        assert (await s.get(FsmRecord, storage.key_builder.build(KEY))).data == {"n": 3}  # type: ignore[union-attr]
    await held.close()


async def test_the_inbox_claim_reads_the_senders_row_in_the_same_round_trip(sessionmaker) -> None:
    storage, inbox = SqlStorage(sessionmaker), Inbox(sessionmaker, bot_id=1)
    row_key = storage.key_builder.build(KEY)
    async with update_transaction(sessionmaker) as tx:
        await tx.fsm(KB).set_state(KEY, "Report:place")
        await tx.fsm(KB).set_data(KEY, DRAFT)
    await inbox.record([(9, '{"update_id": 9}', None)])
    async with update_transaction(sessionmaker, inbox=inbox) as tx:
        begun = await tx.begin(9, row_key)
        assert begun.taken is True and begun.people_version >= 1 and begun.row == ("Report:place", DRAFT)
        fsm = tx.fsm(KB)  # answered from that read
        assert await fsm.get_data(KEY) == DRAFT and await fsm.get_state(KEY) == "Report:place"
    async with update_transaction(sessionmaker, inbox=inbox) as tx:
        assert (await tx.begin(9, row_key)).taken is False  # handled: never twice


async def test_an_update_two_processes_handle_at_once_is_written_once(sessionmaker) -> None:
    """PostgreSQL takes an update with its last writes: when two processes handle the same update at the same
    moment, the second to finish writes nothing (its conversation row, messages and ORM rows roll back) and says
    so; the update's effects are the first one's. (On SQLite the claim at the start serialises them.)"""
    if sessionmaker.kw["bind"].dialect.name == "sqlite":
        pytest.skip("SQLite claims the update at the start, in its single writer's turn")
    storage, outbox = SqlStorage(sessionmaker), OutboxStore(sessionmaker)
    first, second = Inbox(sessionmaker, bot_id=1), Inbox(sessionmaker, bot_id=1)  # two processes
    row_key = storage.key_builder.build(KEY)
    await first.record([(21, '{"update_id": 21}', None)])

    async def handle(inbox: Inbox, name: str, entered: asyncio.Event, go: asyncio.Event) -> list[int]:
        async with update_transaction(sessionmaker, inbox=inbox) as tx:
            assert (await tx.begin(21, row_key)).taken is True
            await tx.fsm(KB).set_data(KEY, {"by": name})
            tx.session.add(Unit(code=name, name=name, parent_id=None))
            ids = await outbox.save_in(tx, [f'{{"by": "{name}"}}'])
            entered.set()
            await go.wait()
        return ids

    a_in, b_in, a_go, b_go = asyncio.Event(), asyncio.Event(), asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(handle(first, "A", a_in, a_go))
    b = asyncio.create_task(handle(second, "B", b_in, b_go))
    await asyncio.wait_for(asyncio.gather(a_in.wait(), b_in.wait()), 5)  # both handled it, neither finished
    a_go.set()
    a_ids = await asyncio.wait_for(a, 5)
    b_go.set()
    with pytest.raises(HandledElsewhere):
        await asyncio.wait_for(b, 5)
    async with transaction(sessionmaker) as s:
        assert (await s.get(FsmRecord, row_key)).data == {"by": "A"}  # type: ignore[union-attr]
        assert (await s.scalars(select(Unit.code))).all() == ["A"]
        assert (await s.scalars(select(OutboxMessage.payload))).all() == ['{"by": "A"}']
        assert (await s.scalars(select(OutboxMessage.id))).all() == a_ids
    async with update_transaction(sessionmaker, inbox=second) as tx:
        assert (await tx.begin(21, row_key)).taken is False  # handled: never again


async def test_a_worker_that_renews_keeps_its_update_and_a_dead_one_lets_go(sessionmaker) -> None:
    """Inbox leases: a worker takes one person's oldest update only; while it renews, no other worker takes it (nor
    that person's next); once it stops renewing (dead), the other takes it after the lease, counted as a second run."""
    inbox = Inbox(sessionmaker, bot_id=1)
    await inbox.record([(31, "{}", 7), (32, "{}", 7), (33, "{}", 8)])
    lease, t0 = timedelta(seconds=30), utcnow()
    taken = await inbox.claim("A", 10, lease, t0)
    assert [c.update_id for c in taken] == [31, 33]  # 32 waits behind 31: the same person's
    await inbox.renew("A", [31], t0 + timedelta(seconds=20) + lease)
    # at 40 s A's lease on 33 (not renewed: A died while running it, say) ran out; 31 is held to 50 s
    assert [c.update_id for c in await inbox.claim("B", 10, lease, t0 + timedelta(seconds=40))] == [33]
    await inbox.renew("B", [31], t0 + timedelta(hours=1))  # a worker renews only what it holds
    later = await inbox.claim("C", 10, lease, t0 + timedelta(seconds=51))  # A stopped renewing 31: C takes it
    assert [(c.update_id, c.runs) for c in later] == [(31, 2)]


async def test_a_received_update_is_taken_by_its_worker_unless_the_person_has_one_waiting(sessionmaker) -> None:
    """Webhook mode's one statement: stored and taken by the worker that received it when it may run now; stored to
    wait when the same person's earlier update is not handled yet, when the worker has no room, or stored before."""
    inbox = Inbox(sessionmaker, bot_id=1)
    engine = sessionmaker.kw["bind"]
    intake: Intake = inbox  # SQLite: the inbox itself; PostgreSQL: a pool of its own (what webhook workers use)
    if engine.dialect.name == "postgresql":
        intake = await PostgresIntake.open(engine.url, 1, 2)
    try:
        await received_in_order(intake)
    finally:
        await intake.close()
    async with transaction(sessionmaker) as s:
        rows = (await s.execute(select(InboxUpdate.update_id, InboxUpdate.leased_by, InboxUpdate.attempts))).all()
    assert sorted(tuple(r) for r in rows) == [(41, "A", 1), (42, None, 0), (43, None, 0), (44, "A", 1)]
    taken = await inbox.claim("B", 10, timedelta(seconds=30), utcnow())
    assert [c.update_id for c in taken] == [43]  # 42 waits behind 41 still


async def received_in_order(inbox: Intake) -> None:
    until = utcnow() + timedelta(seconds=30)
    assert await inbox.receive(41, '{"update_id": 41}', 7, "A", until) is True
    assert await inbox.receive(42, '{"update_id": 42}', 7, "A", until) is False  # 41 (the same person's) runs
    assert await inbox.receive(43, '{"update_id": 43}', 8, None, until) is False  # no room here
    assert await inbox.receive(41, '{"update_id": 41}', 7, "B", until) is False  # Telegram sent it again
    assert await inbox.receive(44, '{"update_id": 44}', None, "A", until) is True  # no person: nothing to wait for


async def test_updates_received_together_are_taken_as_one_at_a_time_would_be(sessionmaker) -> None:
    """PostgreSQL stores POSTs that arrive together in one statement: a person's second update in the batch waits
    behind the first, and an update posted twice at once (Telegram's retry) is taken once."""
    engine = sessionmaker.kw["bind"]
    intake: Intake = Inbox(sessionmaker, bot_id=1)
    if engine.dialect.name == "postgresql":
        intake = await PostgresIntake.open(engine.url, 1, 2)
    until = utcnow() + timedelta(seconds=30)
    try:
        results = await asyncio.gather(
            intake.receive(51, "{}", 9, "A", until),
            intake.receive(52, "{}", 9, "A", until),
            intake.receive(51, "{}", 9, "A", until),
            intake.receive(53, "{}", 10, "A", until),
        )
    finally:
        await intake.close()
    assert results == [True, False, False, True]
