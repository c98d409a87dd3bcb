"""Engine, session factory and migrations (applied programmatically with Alembic)."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, pool, text
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import await_, in_greenlet

from bot.domain import jsoncodec

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer; NORMAL is durable across process crashes in WAL mode.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class _Cursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """SQLAlchemy's asyncio layer closes a driver's cursor here; sqlite3's rows are read in place."""


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)


class SQLiteDialectInLoop(SQLiteDialect_pysqlite):
    """SQLite's own driver (sqlite3) run on the event loop's thread, behind SQLAlchemy's asyncio API.

    aiosqlite runs every statement in a thread of its own and hands the result back to the loop: two thread
    switches and a loop wake-up per statement, several times the statement itself (a hot-path statement on
    SQLite takes tens of microseconds; in WAL mode with synchronous=NORMAL a commit does not wait for the
    disk). The loop also waited while the thread worked, and a transaction held the writer's turn across
    every hand-off. Here a statement runs to its end in place: an update's transaction never yields to the
    loop between its statements, so it holds the writer's turn only for its own CPU time. The price: a slow
    query stalls the loop while it runs, so long reads (exports, statistics) are paged (see storage.repositories.stats),
    and a wait for another process's write lock (busy_timeout) stalls it too.
    """

    driver = "inloop"
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: Any) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool

    # SQLAlchemy's AsyncConnection.execute insists that a statement went through the event loop (a driver
    # that never awaits is taken for a sync driver by mistake): one trivial await each, microseconds.
    def do_execute(self, cursor: Any, statement: Any, parameters: Any, context: Any = None) -> None:
        _touch_loop()
        cursor.execute(statement, parameters)

    def do_executemany(self, cursor: Any, statement: Any, parameters: Any, context: Any = None) -> None:
        _touch_loop()
        cursor.executemany(statement, parameters)

    def do_execute_no_params(self, cursor: Any, statement: Any, context: Any = None) -> None:
        _touch_loop()
        cursor.execute(statement)


async def _nothing() -> None:
    return None


def _touch_loop() -> None:
    if in_greenlet():
        await_(_nothing())


registry.register("sqlite.inloop", __name__, "SQLiteDialectInLoop")

# PostgreSQL: a connection per update in flight up to this many, the rest wait for one (not open more).
PG_POOL_SIZE = 30
PG_POOL_OVERFLOW = 0


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        # check_same_thread off: every use is on the loop's thread, but a pooled connection may be closed
        # by the garbage collector in another one (a chart drawn in a worker thread)
        sqlite_url = make_url(url).set(drivername="sqlite+inloop")
        connect_args = {"check_same_thread": False, "factory": _Connection, **kwargs.pop("connect_args", {})}
        if SQLiteDialectInLoop._is_url_file_db(sqlite_url):  # transactions take turns (storage.uow): few needed
            kwargs.setdefault("pool_size", 2)
            kwargs.setdefault("max_overflow", 3)
        engine = create_async_engine(
            sqlite_url,
            connect_args=connect_args,
            json_serializer=jsoncodec.dumps,
            json_deserializer=jsoncodec.loads,
            **kwargs,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No pool_pre_ping: it costs a round trip per checkout; a connection the server dropped fails its
    # statement, the update rolls back and the person is told to retry (the pool then discards it).
    kwargs.setdefault("pool_size", PG_POOL_SIZE)
    kwargs.setdefault("max_overflow", PG_POOL_OVERFLOW)
    return create_async_engine(
        url, pool_recycle=3600, json_serializer=jsoncodec.dumps, json_deserializer=jsoncodec.loads, **kwargs
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    """The newest migration's revision, read from the migration files without Alembic (None when they do not form
    one line: Alembic decides then)."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        rev = re.search(r"^revision\b[^=]*=\s*[\"']([^\"']+)[\"']", source, re.M)
        down = re.search(r"^down_revision\b[^=]*=\s*(?:None|[\"']([^\"']+)[\"'])\s*$", source, re.M)
        if rev is None or down is None:
            return None
        revisions[rev.group(1)] = down.group(1)
    heads = set(revisions) - {d for d in revisions.values() if d is not None}
    return heads.pop() if len(heads) == 1 else None


async def at_head(engine: AsyncEngine) -> bool:
    """The schema is at the newest migration this code knows (a worker of older code beside it: see
    docs/operations.md on upgrades). Raises when the database cannot be reached."""
    head = head_revision()
    async with engine.connect() as conn:
        found = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    return head is not None and found == [head]


async def _at_head(engine: AsyncEngine) -> bool:
    head = head_revision()
    if head is None:
        return False
    async with engine.connect() as conn:
        try:
            found = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        except Exception:  # no schema yet
            return False
    return found == [head]


MIGRATION_LOCK = 7_246_113  # the advisory lock PostgreSQL migrations take ("KB" in a number)


async def migrate(engine: AsyncEngine, revision: str = "head", *, downgrade: bool = False) -> None:
    """Upgrade (or downgrade) the schema on this engine. A schema at head already is left alone without importing
    Alembic (about 10 MB the bot would keep for nothing)."""
    if revision == "head" and not downgrade and await _at_head(engine):
        return
    from alembic import command

    def run(conn: Connection) -> None:
        cfg = alembic_config(conn)
        if downgrade:
            command.downgrade(cfg, revision)
        else:
            command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # workers starting together: one migrates, the others wait, then see head
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def backup_sqlite(url: str, target: str) -> int:
    """SQLite's online backup of the database at `url` into the file `target` (replaced): a consistent copy taken
    page by page while others go on writing; returns the pages copied. The copy is a database file like any other:
    restore it by pointing DATABASE_URL at it (or copying it in place while the bot is stopped)."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path == ":memory:":
        raise ValueError(f"not a SQLite database file: {url}")
    if not os.path.exists(path):
        raise ValueError(f"no database at {path}")
    copied = 0

    def progress(_status: int, remaining: int, total: int) -> None:
        nonlocal copied
        copied = total - remaining

    source = sqlite3.connect(path)
    try:
        target_conn = sqlite3.connect(target)
        try:
            source.backup(target_conn, pages=1024, progress=progress)
        finally:
            target_conn.close()
    finally:
        source.close()
    return copied
