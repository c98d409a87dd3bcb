"""Benchmark: complete initial reports by concurrent simulated reporters, against a baseline.

Each configuration runs the bot as its own process, polling a fake Bot API over real HTTP; this
process drives reporters that type and tap like people and measures, per step, the time from the
update being offered until the bot's answer arrives. The baseline is a plain aiogram FSM form of
the same steps with MemoryStorage (no durability). Figures are printed, never asserted.

    python -m benchmarks.bench_report run                      # 2,000 reports, 200 reporters
    python -m benchmarks.bench_report run --reports 200 --reporters 20 --backends memory,sqlite
    python -m benchmarks.bench_report run --backends postgresql,webhook1-postgresql,webhook3-postgresql
                                                               # webhook workers (1 and 3) against polling
    python -m benchmarks.bench_report memory                   # RSS with 10,000 reports half filled in
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GROUP = -100900
WEBHOOK_SECRET = "bench-secret"
FIRST_USER = 500_000
SCRIPT: list[tuple[str, str, Any]] = [
    ("start", "say", "/report"),
    ("time", "tap", "30分钟前"),
    ("location", "loc", (31.2, 121.4)),
    ("place", "say", "XX镇XX村河堤"),
    ("source", "tap", "现场人员"),
    ("source_done", "tap", "下一步"),
    ("category", "tap", "事故灾难"),
    ("subtype", "tap", "交通运输事故"),
    ("description", "say", "一辆货车与大巴相撞，多人受伤，道路中断"),
    ("units", "tap", "跳过"),
    ("casualties", "say", "死亡1 受伤5"),
    ("loss", "say", "350万"),
    ("measures", "say", "已封闭道路，救护车到场"),
    ("contact", "tap", "确认"),
    ("attachments", "tap", "下一步"),
    ("submit", "tap", "提交"),
]


# ---- the baseline bot: a plain aiogram FSM form of the same steps, MemoryStorage ----------------
def naive_sqlite_storage(path: str) -> Any:
    """The issue's reference point: an aiogram FSM storage on SQLite, one commit per write."""
    import json

    import aiosqlite
    from aiogram.fsm.storage.base import BaseStorage, StorageKey

    class NaiveSqliteStorage(BaseStorage):
        def __init__(self) -> None:
            self.db: Any = None

        async def _conn(self) -> Any:
            if self.db is None:
                self.db = await aiosqlite.connect(path)
                await self.db.execute("PRAGMA journal_mode=WAL")
                await self.db.execute("CREATE TABLE IF NOT EXISTS fsm (k TEXT PRIMARY KEY, state TEXT, data TEXT)")
            return self.db

        async def _get(self, key: StorageKey) -> tuple[Any, Any]:
            db = await self._conn()
            async with db.execute("SELECT state, data FROM fsm WHERE k = ?", (str(key),)) as cur:
                row = await cur.fetchone()
            return row or (None, "{}")

        async def set_state(self, key: StorageKey, state: Any = None) -> None:
            db = await self._conn()
            value = getattr(state, "state", state)
            await db.execute(
                "INSERT INTO fsm (k, state, data) VALUES (?, ?, '{}') ON CONFLICT(k) DO UPDATE "
                "SET state = excluded.state",
                (str(key), value),
            )
            await db.commit()

        async def get_state(self, key: StorageKey) -> str | None:
            return (await self._get(key))[0]

        async def set_data(self, key: StorageKey, data: Any) -> None:
            db = await self._conn()
            sql = "INSERT INTO fsm (k, data) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET data = excluded.data"
            await db.execute(sql, (str(key), json.dumps(data)))
            await db.commit()

        async def get_data(self, key: StorageKey) -> dict[str, Any]:
            return json.loads((await self._get(key))[1])

        async def close(self) -> None:
            if self.db is not None:
                await self.db.close()

    return NaiveSqliteStorage()


def baseline_dispatcher(storage: Any = None) -> Any:
    from aiogram import Dispatcher, F, Router
    from aiogram.filters import Command
    from aiogram.fsm.context import FSMContext
    from aiogram.fsm.storage.memory import MemoryStorage
    from aiogram.types import (
        CallbackQuery,
        InlineKeyboardButton,
        InlineKeyboardMarkup,
        KeyboardButton,
        Message,
        ReplyKeyboardMarkup,
    )

    def keyboard(i: int) -> Any:
        """The keyboard the next step needs, as in the real form (buttons plus back/cancel)."""
        if i >= len(SCRIPT):
            return None
        name, kind, arg = SCRIPT[i]
        if kind == "loc" or name == "place":
            rows = [
                [KeyboardButton(text="📍", request_location=True)],
                [KeyboardButton(text="⬅️ 返回"), KeyboardButton(text="✖️ 取消")],
            ]
            return ReplyKeyboardMarkup(keyboard=rows)
        rows = [[InlineKeyboardButton(text=arg if kind == "tap" else "选项", callback_data=f"b:{i}")]]
        rows.append(
            [
                InlineKeyboardButton(text="⬅️ 返回", callback_data="back"),
                InlineKeyboardButton(text="✖️ 取消", callback_data="cancel"),
            ]
        )
        return InlineKeyboardMarkup(inline_keyboard=rows)

    router = Router()

    @router.message(Command("report"))
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state("form:1")
        await state.set_data({})
        await message.answer("第 1 步", reply_markup=keyboard(1))

    async def advance(state: FSMContext, value: Any) -> tuple[int, dict[str, Any]]:
        i = int((await state.get_state() or "form:1").split(":")[1])
        data = await state.update_data({SCRIPT[i][0]: value})
        await state.set_state(f"form:{i + 1}")
        return i, data

    @router.message(F.text | F.location)
    async def on_message(message: Message, state: FSMContext) -> None:
        value = message.text or [message.location.latitude, message.location.longitude]  # type: ignore[union-attr]
        i, _ = await advance(state, value)
        await message.answer(f"第 {i + 1} 步：{value}", reply_markup=keyboard(i + 1))

    @router.callback_query()
    async def on_button(query: CallbackQuery, state: FSMContext) -> None:
        i, data = await advance(state, query.data)
        await query.answer()
        if i + 1 >= len(SCRIPT):
            await state.clear()
            await query.message.answer(f"DONE KB-{query.from_user.id}")  # type: ignore[union-attr]
            await query.bot.send_message(GROUP, f"alert {len(data)}")  # type: ignore[union-attr]
            return
        markup = keyboard(i + 1)
        if isinstance(markup, ReplyKeyboardMarkup):  # a reply keyboard cannot be edited in: send anew
            await query.message.answer(f"第 {i + 1} 步", reply_markup=markup)  # type: ignore[union-attr]
        else:
            await query.message.edit_text(f"第 {i + 1} 步", reply_markup=markup)  # type: ignore[union-attr]

    dp = Dispatcher(storage=storage or MemoryStorage())
    dp.include_router(router)
    return dp


async def serve(kind: str, api: str, db: str, webhook: str = "") -> None:
    """Run one bot (ours or the baseline) until SIGTERM; `webhook` (host:port): ours as a webhook worker there."""
    from bot.app.sandbox.botapi import TOKEN

    if kind in ("baseline", "naive"):
        from aiogram import Bot
        from aiogram.client.default import DefaultBotProperties
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        bot = Bot(
            TOKEN,
            session=AiohttpSession(api=TelegramAPIServer.from_base(api)),
            default=DefaultBotProperties(parse_mode="HTML"),
        )
        storage = naive_sqlite_storage(db.split(":///", 1)[1]) if kind == "naive" else None
        await baseline_dispatcher(storage).start_polling(bot, polling_timeout=1)
        return
    from bot.app.runtime import run
    from bot.app.settings import load_settings

    if os.environ.get("KB_BENCH_CPROFILE"):  # exact time per function (greenlets do not cut it, unlike py-spy)
        import atexit
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        atexit.register(lambda: (profiler.disable(), profiler.dump_stats(os.environ["KB_BENCH_CPROFILE"])))
    if os.environ.get("KB_BENCH_GC"):  # time spent in the garbage collector, by generation
        import atexit
        import gc

        gc_time: Counter[str] = Counter()
        gc_start = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                gc_start[0] = time.perf_counter()
            elif settled:  # counted once start-up is over (runtime.settle_heap)
                gc_time[f"gen{info['generation']}"] += time.perf_counter() - gc_start[0]
                gc_time[f"n{info['generation']}"] += 1

        settled: list[bool] = []
        freeze = gc.freeze

        def freeze_and_count() -> None:
            if not os.environ.get("KB_BENCH_NO_FREEZE"):  # to measure what freezing gives
                freeze()
            settled.append(True)

        gc.freeze = freeze_and_count
        gc.callbacks.append(on_gc)
        atexit.register(lambda: Path(os.environ["KB_BENCH_GC"]).write_text(json.dumps(gc_time)))
    if os.environ.get("KB_BENCH_STAGES"):
        from benchmarks.stage_timer import install

        install(Path(os.environ["KB_BENCH_STAGES"]))
    if os.environ.get("KB_BENCH_SQL"):  # count the statements the bot runs, by kind, for the report
        import atexit
        import json as _json

        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        statements: Counter[str] = Counter()

        @event.listens_for(Engine, "before_cursor_execute")
        def count(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            words = statement.split()
            marks = ("FROM", "INTO", "UPDATE")
            table = next((w for w, prev in zip(words[1:], words[:-1], strict=True) if prev.upper() in marks), "")
            statements[f"{words[0].upper()} {table.strip(chr(34))}"] += 1

        try:  # filing's statements run on the driver's connection too (storage.driversql)
            from storage import driversql
        except ImportError:  # an older commit measured with this file
            driversql = None  # type: ignore[assignment]
        if driversql is not None:
            run_on_driver = driversql.run

            async def counted_run(s: Any, statement: Any, values: Any, *args: Any, **kwargs: Any) -> Any:
                sql = driversql._prepared(statement, s.bind.dialect, tuple(sorted(values))).sql
                count(None, None, sql, None, None, False)
                return await run_on_driver(s, statement, values, *args, **kwargs)

            driversql.run = counted_run  # type: ignore[assignment]

        # the update's statements run on the driver's connection, past SQLAlchemy's events
        try:
            from storage.update.postgres import PostgresStatements as pg
            from storage.update.sqlite import SQLiteStatements as lite
        except ImportError:  # an older commit measured with this file
            from storage import hotpath  # type: ignore[attr-defined, no-redef, unused-ignore]

            lite, pg = hotpath._SQLite, hotpath._Postgres
        for name, table in (
            ("take", "update_inbox"),
            ("exists", "update_inbox"),
            ("preload", "fsm_state"),
            ("version", "people_version"),
            ("latest_open", "deadlines"),
            ("upsert", "fsm_state"),
            ("delete", "fsm_state"),
            ("outbox", "outbox"),
        ):
            if name in vars(lite):
                setattr(
                    lite,
                    name,
                    _counted(
                        getattr(lite, name),
                        statements,
                        getattr(lite, name.upper(), ""),
                        table,
                        per_row=name == "outbox",
                    ),
                )
        # one statement each there (SQLite's run several): the claim with the sender's row; the last writes
        for name, sql, table in (
            ("check_preload", "CHECK_PRELOAD", "update_inbox"),
            ("check", "CHECK", "update_inbox"),
            ("preload", "PRELOAD", "fsm_state"),
            ("version", "VERSION", "people_version"),
            ("finish", "WITH", "inbox+fsm_state+outbox"),
        ):
            if name in vars(pg):
                setattr(pg, name, _counted(getattr(pg, name), statements, getattr(pg, sql, sql), table, per_row=False))

        out = Path(f"{os.environ['KB_BENCH_SQL']}.{os.getpid()}")  # one file per process (webhook workers)
        atexit.register(lambda: out.write_text(_json.dumps(statements)))

    # The simulated reporters type without pause and every report alerts one group: Telegram's overall, per-chat
    # and per-group pacing would measure the platform's limits, not the bot, so they are opened wide here (the
    # baseline has no limiter; bench_broadcast measures the pacing).
    wide_open = {
        "send_overall_per_second": 1000,
        "send_chat_per_second": 100,
        "send_chat_burst": 100,
        "send_group_messages": 1000,
        "send_group_period": 1,
    }
    hook = {"webhook_url": "https://bench.example.org/tg", "webhook_secret": WEBHOOK_SECRET, "webhook_listen": webhook}
    settings = load_settings(
        {
            "bot_token": TOKEN,
            "bot_api_base": api,
            "database_url": db,
            "polling_timeout": 1,
            "log_level": "WARNING",
            **wide_open,
            **(hook if webhook else {}),
        },
        environ={},
        env_file=None,
    )
    if webhook:
        from bot.app.runtime import serve as serve_webhook

        await serve_webhook(settings)
    else:
        await run(settings)


def _counted(fn: Any, statements: Counter[str], sql: str, table: str, per_row: bool) -> Any:
    verb = (sql.split() or ["?"])[0].upper()

    async def wrapper(self: Any, *args: Any) -> Any:
        statements[f"{verb} {table}"] += len(args[0]) if per_row else 1
        return await fn(self, *args)

    return wrapper


# ---- the driver --------------------------------------------------------------------------------
async def seed(db: str, reporters: int) -> None:
    from bot.usecases.onboarding import add_unit, bind_group
    from storage.db import create_engine, create_sessionmaker, migrate
    from storage.uow import unit_of_work

    engine = create_engine(db)
    await migrate(engine)
    async with unit_of_work(create_sessionmaker(engine)) as repos:
        unit = await add_unit(repos, "bench", "bench", "基准测试单位", None)
        await bind_group(repos, "bench", GROUP, unit, "值班群", None)
        for i in range(reporters):
            await repos.users.add(FIRST_USER + i, f"报送员{i}", unit.id, {"reporter"}, f"1380000{i:04d}")
    await engine.dispose()


def server_cpu_seconds() -> float:
    """CPU time of every PostgreSQL server process so far (the postmaster's children included)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip().startswith(("postgres", "postmaster")):
                    total += cpu_seconds(int(proc.name))
            except OSError:
                continue  # ended meanwhile
    return total


async def pg_sessions(db: str) -> int:
    """Sessions the server has opened on this database so far (pg_stat_database, PostgreSQL 14+)."""
    import asyncpg

    conn = await asyncpg.connect(db.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(await conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = current_database()"))
    finally:
        await conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def receipt(sent: Any) -> bool:
    """A receipt (redrawn when its alerts are delivered, possibly during the next report): not a step."""
    return bool(sent.buttons()) and str(sent.buttons()[0].get("callback_data", "")).startswith("v1o")


def step_done(sent: Any, final: bool) -> bool:
    if receipt(sent) and not final:
        return False
    markup = sent.reply_markup or {}
    return ("KB-" in sent.text) if final else ("inline_keyboard" in markup or "keyboard" in markup)


async def reporter(api: Any, uid: int, reports: int, lat: dict[str, list[float]]) -> int:
    updates = 0
    for _ in range(reports):
        for name, kind, arg in SCRIPT:
            chat = api.by_chat[uid]
            before = len(chat)
            start = time.perf_counter()
            if kind == "say":
                await api.send_text(uid, arg)
            elif kind == "loc":
                await api.send_location(uid, *arg)
            else:
                # the newest form screen (a receipt, with its follow-up button, may be redrawn after it)
                screen = next(
                    s
                    for s in reversed(chat)
                    if s.reply_markup and "inline_keyboard" in s.reply_markup and not receipt(s)
                )
                await api.press(uid, screen, screen.button(arg)["callback_data"])
            final = name == "submit"
            await api.wait_chat(uid, lambda c=chat, b=before, f=final: any(step_done(s, f) for s in c[b:]), 60)
            lat[name].append(time.perf_counter() - start)
            updates += 1
    return updates


async def start_bot(kind: str, db: str, env: dict[str, str]) -> tuple[Any, Any]:
    """The fake Bot API, and a bot (ours or the baseline) long-polling it as its own process."""
    from bot.app.sandbox.botapi import FakeBotAPI

    api = FakeBotAPI()
    await api.start()
    return api, await bot_process(kind, api.base_url, db, env)


async def bot_process(kind: str, api_url: str, db: str, env: dict[str, str], webhook: str = "") -> Any:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.bench_report",
        "serve",
        "--kind",
        kind,
        "--api",
        api_url,
        "--db",
        db,
        *(["--webhook", webhook] if webhook else []),
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **env),
    )


async def start_workers(db: str, workers: int, env: dict[str, str]) -> tuple[Any, list[Any]]:
    """The fake Bot API posting to `workers` webhook workers (each its own process and port, taken in turn as a load
    balancer would), once every worker is up and the webhook is set."""
    import aiohttp

    from bot.app.sandbox.botapi import FakeBotAPI
    from tests.http.test_webhook_http import free_port

    api = FakeBotAPI()
    await api.start()
    ports = [free_port() for _ in range(workers)]
    procs = []
    for port in ports:
        procs.append(await bot_process("ours", api.base_url, db, env, webhook=f"127.0.0.1:{port}"))
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
    api.webhook_targets = [f"http://127.0.0.1:{port}/tg" for port in ports]
    await api.wait_for(lambda: api.webhook is not None, 60)
    return api, procs


async def start_profile(pid: int, folder: str, name: str) -> Any:
    """py-spy sampling the bot (not pausing it) for the measured window; raw collapsed stacks."""
    Path(folder).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (before the measured window)
    spy = Path(sys.executable).with_name("py-spy")
    out = Path(folder) / f"{name}.txt"
    return await asyncio.create_subprocess_exec(
        str(spy),
        "record",
        "--gil",
        "-r",
        "100",
        "-f",
        "raw",
        "-o",
        str(out),
        "-p",
        str(pid),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def measure(
    kind: str, backend: str, reports: int, reporters: int, profile: str = "", stages: bool = False
) -> dict[str, Any]:
    """One bot under load; with `stages`, one reporter at a time with the stage timers in the bot instead."""
    from benchmarks.stage_timer import read as read_stages
    from tests.conftest import create_pg_database, drop_pg_database

    tmp = tempfile.mkdtemp(prefix="kb-bench-")
    db = f"sqlite+aiosqlite:///{tmp}/bench.db"
    backend = "sqlite" if backend == "naive-sqlite" else backend
    workers = int(backend.removeprefix("webhook").split("-")[0]) if backend.startswith("webhook") else 0
    if backend.endswith("postgresql"):
        db = await create_pg_database()
    if kind == "ours":
        await seed(db, reporters)
    extra = {"KB_BENCH_SQL": f"{tmp}/statements.json"}
    if stages:
        extra["KB_BENCH_STAGES"] = f"{tmp}/stages.json"
    if workers:
        api, procs = await start_workers(db, workers, extra)
    else:
        api, proc = await start_bot(kind, db, extra)
        procs = [proc]
        await api.wait_for(lambda: api.get_updates_calls > 0, 60)
    proc = procs[0]
    try:
        warm: dict[str, list[float]] = defaultdict(list)
        await reporter(api, FIRST_USER, 1, warm)  # warm-up, not measured
        lat: dict[str, list[float]] = defaultdict(list)
        calls_before, cpu_before = len(api.calls), sum(cpu_seconds(p.pid) for p in procs)
        driver_before = time.process_time()  # this process: the fake Bot API (polled, or posting) and the reporters
        posts_before = len(api.webhook_seconds)
        pg = backend.endswith("postgresql")
        server_before, sessions_before = (server_cpu_seconds(), await pg_sessions(db)) if pg else (0.0, 0)
        spy = await start_profile(proc.pid, profile, f"{kind}-{backend}") if profile else None
        per = [reports // reporters + (1 if i < reports % reporters else 0) for i in range(reporters)]
        # The driving process (the fake Bot API and the reporters) keeps every message the bot sent; its own full
        # garbage collections then took up to 0.8 s, during which every step in flight waited, whichever bot was
        # measured (seen with a gc callback: 0.375 s in a baseline run, 0.795 s in a PostgreSQL run). Its collector
        # is paused for the window (reference counting still frees nearly everything), the same for every run.
        gc.collect()
        gc.freeze()
        gc.disable()
        start = time.perf_counter()
        try:
            counts = await asyncio.gather(*(reporter(api, FIRST_USER + i, n, lat) for i, n in enumerate(per)))
        finally:
            gc.enable()
            gc.unfreeze()
        # the run ends when the duty group has every report's alert too (ours sends them after the reporter's
        # receipt): work left for after the window would look like speed
        await api.wait_for(lambda: len(api.by_chat[GROUP]) >= reports + 1, 60)
        elapsed = time.perf_counter() - start
        api_calls, cpu = len(api.calls) - calls_before, sum(cpu_seconds(p.pid) for p in procs) - cpu_before
        driver_cpu = time.process_time() - driver_before
        posts = api.webhook_seconds[posts_before:]
        server_cpu = server_cpu_seconds() - server_before if pg else 0.0
        sessions = await pg_sessions(db) - sessions_before - 1 if pg else 0  # not counting our own look
        methods = Counter(method for method, _ in api.calls[calls_before:])
        payload = sum(len(json.dumps(params, ensure_ascii=False).encode()) for _, params in api.calls[calls_before:])
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            await spy.wait()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            await p.wait()
        statements = read_statements(Path(tmp))
        stage_seconds = read_stages(Path(tmp) / "stages.json")
        await api.stop()
        if backend.endswith("postgresql"):
            await drop_pg_database(db)
    return {
        "posts": posts,
        "driver_cpu": driver_cpu,
        "kind": kind,
        "backend": backend,
        "updates": sum(counts),
        "seconds": elapsed,
        "ups": sum(counts) / elapsed,
        "lat": lat,
        "calls": api_calls,
        "cpu": cpu,
        "methods": methods,
        "payload": payload,
        "statements": statements,
        "stages": stage_seconds,
        "server_cpu": server_cpu,
        "sessions": sessions,
    }


def read_statements(folder: Path) -> Counter[str]:
    """The statements every process of a run counted (one file each: webhook workers), summed."""
    statements: Counter[str] = Counter()
    for sql_file in folder.glob("statements.json.*"):
        statements.update(json.loads(sql_file.read_text()))
    return statements


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    """A process's resident memory (VmRSS) or its peak (VmHWM), in kB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def measure_memory(kind: str, drafts: int, concurrency: int = 200) -> dict[str, Any]:
    """A bot's resident memory idle, then its peak once `drafts` people each have a report half filled in."""

    tmp = tempfile.mkdtemp(prefix="kb-bench-mem-")
    db = f"sqlite+aiosqlite:///{tmp}/bench.db"
    if kind == "ours":
        await seed(db, drafts)
    api, proc = await start_bot(kind, db, {})
    try:
        await api.wait_for(lambda: api.get_updates_calls > 0, 60)
        await asyncio.sleep(2.0)  # started: migrations, caches, background jobs
        idle = rss_kb(proc.pid)

        async def open_draft(uid: int) -> None:
            chat = api.by_chat[uid]
            await api.send_text(uid, "/report")
            await api.wait_chat(uid, lambda c=chat: any(step_done(s, False) for s in c), 60)
            screen = next(s for s in reversed(chat) if s.reply_markup and "inline_keyboard" in s.reply_markup)
            before = len(chat)
            await api.press(uid, screen, screen.button(SCRIPT[1][2])["callback_data"])
            await api.wait_chat(uid, lambda c=chat, b=before: any(step_done(s, False) for s in c[b:]), 60)

        users = [FIRST_USER + i for i in range(drafts)]
        for start in range(0, drafts, concurrency):
            await asyncio.gather(*(open_draft(uid) for uid in users[start : start + concurrency]))
        await asyncio.sleep(1.0)
        peak = rss_kb(proc.pid, "VmHWM")
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        await api.stop()
    return {"kind": kind, "idle_mb": idle / 1024, "peak_mb": peak / 1024, "drafts": drafts}


async def main_memory(args: argparse.Namespace) -> None:
    results = []
    for kind in ("baseline", "ours"):
        print(f"memory of {kind}: {args.drafts} reports open at once …", flush=True)
        results.append(await measure_memory(kind, args.drafts))
    base, ours = results
    print(f"\n{'bot':<34}{'idle RSS':>12}{'peak RSS with drafts':>24}{'growth':>10}")
    for r in results:
        name = "baseline (MemoryStorage)" if r["kind"] == "baseline" else "Kuaibao (SQLite)"
        print(f"{name:<34}{r['idle_mb']:>9.1f} MB{r['peak_mb']:>21.1f} MB{r['peak_mb'] - r['idle_mb']:>7.1f} MB")
    own, over_base = ours["peak_mb"] - ours["idle_mb"], ours["peak_mb"] - base["idle_mb"]
    print(
        f"\nKuaibao with {ours['drafts']:,} open drafts: {own:.1f} MB above its own idle RSS, "
        f"{over_base:.1f} MB above the idle baseline bot's"
    )


def pct(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000 if len(values) > 1 else values[0] * 1000
    )


def report(results: list[dict[str, Any]]) -> None:
    print(
        f"\n{'run':<26}{'updates':>9}{'seconds':>9}{'updates/s':>11}{'bot CPU ms/update':>19}{'API calls/update':>18}"
        f"{'driver CPU ms/update':>22}"
    )
    for r in results:
        print(
            f"{r['kind'] + '/' + r['backend']:<26}{r['updates']:>9}{r['seconds']:>9.1f}{r['ups']:>11.1f}"
            f"{r['cpu'] * 1000 / r['updates']:>19.2f}{r['calls'] / r['updates']:>18.2f}"
            f"{r['driver_cpu'] * 1000 / r['updates']:>22.2f}"
        )
    print("  (driver: this process, the fake Bot API and the reporters, on the same 2 cores as the bot)")
    for r in results:
        per = ", ".join(f"{m} {n / r['updates']:.2f}" for m, n in r["methods"].most_common())
        print(f"  {r['kind'] + '/' + r['backend']}: {per}")
    print(f"\n{'step (ms)':<14}" + "".join(f"{r['kind'][:4] + '/' + r['backend'][:6]:>22}" for r in results))
    print(f"{'':<14}" + "".join(f"{'p50':>11}{'p99':>11}" for _ in results))
    for name, _, _ in SCRIPT:
        print(
            f"{name:<14}"
            + "".join(f"{pct(r['lat'][name], 50):>11.1f}{pct(r['lat'][name], 99):>11.1f}" for r in results)
        )
    for r in results:
        if r["backend"] == "postgresql" and r["updates"]:
            cpu = r["server_cpu"] * 1000 / r["updates"]
            print(
                f"  {r['kind']}/postgresql: PostgreSQL server CPU {cpu:.2f} ms/update, "
                f"{r['sessions']} server sessions opened during the run"
            )
    for r in results:
        if r["statements"]:
            total = sum(r["statements"].values()) / r["updates"]
            per = ", ".join(
                f"{k} {n / r['updates']:.2f}"
                for k, n in r["statements"].most_common(int(os.environ.get("KB_BENCH_TOP", "12")))
            )
            print(f"  {r['kind'] + '/' + r['backend']}: {total:.2f} SQL statements/update: {per}")
    polling = next((r for r in results if r["kind"] == "ours" and r["backend"] == "postgresql"), None)
    for r in results:
        if r["posts"]:
            against = f"; {r['ups'] / polling['ups']:.2f}x polling's updates/s" if polling else ""
            print(
                f"  ours/{r['backend']}: webhook POST to its 200 p50 {pct(r['posts'], 50):.1f} ms, "
                f"p99 {pct(r['posts'], 99):.1f} ms over {len(r['posts'])} POSTs{against}"
            )
    base = next((r for r in results if r["kind"] == "baseline"), None)
    if base:
        print()
        for r in results:
            if r is not base:
                print(f"ratio {r['kind']}/{r['backend']} : baseline/memory = {r['ups'] / base['ups']:.2f}x updates/s")
        print("\np99 step latency against the baseline's (goal: no worse than 1.5x), read three ways:")

        def every_step(r: dict[str, Any]) -> list[float]:
            return [x for name, _, _ in SCRIPT for x in r["lat"][name]]

        base_all, base_worst = pct(every_step(base), 99), max(pct(base["lat"][n], 99) for n, _, _ in SCRIPT)
        for r in results:
            if r is base:
                continue
            name = r["kind"] + "/" + r["backend"]
            together, worst = pct(every_step(r), 99), max(pct(r["lat"][n], 99) for n, _, _ in SCRIPT)
            over = [n for n, _, _ in SCRIPT if pct(r["lat"][n], 99) > 1.5 * pct(base["lat"][n], 99)]
            print(
                f"  {name}: every step together {together:.0f} ms ({together / base_all:.2f}x of {base_all:.0f} ms);"
                f" worst step {worst:.0f} ms ({worst / base_worst:.2f}x of {base_worst:.0f} ms);"
                f" steps over 1.5x the baseline's same step: {', '.join(over) or 'none'}"
            )


async def main_run(args: argparse.Namespace) -> None:
    results = []
    for backend in args.backends.split(","):
        kind = {"memory": "baseline", "naive-sqlite": "naive"}.get(backend, "ours")
        print(f"running {kind} on {backend}: {args.reports} reports by {args.reporters} reporters …", flush=True)
        results.append(await measure(kind, backend, args.reports, args.reporters, args.profile))
    staged = []
    for backend in args.backends.split(",") if args.stages else []:
        if backend in ("sqlite", "postgresql"):
            print(f"timing stages on {backend}: {args.stages} reports by one reporter …", flush=True)
            staged.append(await measure("ours", backend, args.stages, 1, stages=True))
    report(results)
    if staged:
        report_stages(staged)


def report_stages(results: list[dict[str, Any]]) -> None:
    names = sorted({name for r in results for name in r["stages"]}, key=lambda n: -results[0]["stages"].get(n, 0))
    print(f"\n{'stage (µs per update, one reporter)':<40}" + "".join(f"{r['backend']:>12}" for r in results))
    for name in names:
        print(f"{name:<40}" + "".join(f"{r['stages'].get(name, 0) / r['updates'] * 1e6:>12.0f}" for r in results))
    print(f"{'total':<40}" + "".join(f"{sum(r['stages'].values()) / r['updates'] * 1e6:>12.0f}" for r in results))
    print(f"{'Bot API calls per update':<40}" + "".join(f"{r['calls'] / r['updates']:>12.2f}" for r in results))
    print(
        f"{'Bot API request bytes per update':<40}" + "".join(f"{r['payload'] / r['updates']:>12.0f}" for r in results)
    )
    print(
        f"{'SQL statements per update':<40}"
        + "".join(f"{sum(r['statements'].values()) / r['updates']:>12.2f}" for r in results)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--reports", type=int, default=2000)
    run.add_argument("--reporters", type=int, default=200)
    run.add_argument("--backends", default="memory,naive-sqlite,sqlite,postgresql")
    run.add_argument("--profile", default="", help="folder for py-spy's samples of each bot")
    run.add_argument("--stages", type=int, default=50, help="reports by one reporter for the stage timers (0: none)")
    mem = sub.add_parser("memory")
    mem.add_argument("--drafts", type=int, default=10_000)
    srv = sub.add_parser("serve")
    srv.add_argument("--kind", choices=["ours", "baseline", "naive"], required=True)
    srv.add_argument("--api", required=True)
    srv.add_argument("--db", required=True)
    srv.add_argument("--webhook", default="", help="host:port: a webhook worker listening there (ours only)")
    args = parser.parse_args()
    if args.cmd == "serve":
        asyncio.run(serve(args.kind, args.api, args.db, args.webhook))
    elif args.cmd == "memory":
        asyncio.run(main_memory(args))
    else:
        asyncio.run(main_run(args))


if __name__ == "__main__":
    main()
