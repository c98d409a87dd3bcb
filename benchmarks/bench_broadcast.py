"""Benchmark: an early warning to 10,000 recipients (9,000 private chats, 1,000 duty groups) through the real
bot (`python -m bot run`, its own process) against the fake Bot API enforcing Telegram's limits, all three
scaled by --scale (×10 by default: 300 msg/s overall, 10 msg/s per chat, 200 msg/min per group) to keep the
run short.

Printed (never asserted): achieved rate / allowed rate (goal ≥ 0.95; the rate counts everything the bot sent
during the broadcast, the reporters' answers too, since the limit is on all of it), 429s received after the first second
(goal 0), recipients lost (0), duplicates without a kill (0), and the p50/p99 answer time of a reporter's
form step with no broadcast and during the broadcast.

    python -m benchmarks.bench_broadcast                              # 9,000 + 1,000, ×10, SQLite
    python -m benchmarks.bench_broadcast --people 900 --groups 100 --backends sqlite,postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from typing import Any


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def reporter_steps(api: Any, uid: int, until: asyncio.Event, out: list[float]) -> None:
    """A reporter at the time field of the initial report typing a wrong time again and again: one form step
    (draft read, engine, draft written, answer) per round trip; the answer time of each is recorded."""
    from tests.reporting import Reporter

    r = Reporter(api, uid)
    await r.say("/report")
    while not until.is_set():
        before = len(api.in_chat(uid))
        start = time.perf_counter()
        await api.send_text(uid, "某个时间")
        # woken by its own chat only: a wait on every message would load the process that plays Telegram
        await api.wait_chat(uid, lambda n=before: len(api.by_chat.get(uid, ())) > n, timeout=60)
        out.append(time.perf_counter() - start)


async def measure(backend: str, people: int, groups: int, scale: float, reporters: int, quiet: float) -> dict[str, Any]:
    """The bot runs as its own process (`python -m bot run`), as in production; this process plays Telegram
    (the fake Bot API) and the reporters, and publishes the warning in the database."""
    import signal

    from bot.app.sandbox.botapi import FakeBotAPI
    from bot.app.settings import load_settings
    from bot.usecases.common import Config
    from bot.usecases.onboarding import add_unit, add_user
    from storage.db import create_engine, create_sessionmaker, migrate
    from storage.uow import unit_of_work
    from tests.broadcasting import groups as group_ids
    from tests.broadcasting import people as person_ids
    from tests.broadcasting import publish, seed_recipients
    from tests.conftest import create_pg_database, drop_pg_database
    from tests.subproc import BotProcess, bot_env

    db = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='kb-bcast-')}/bench.db"
    if backend == "postgresql":
        db = await create_pg_database()
    overall, per_chat, per_group = 30 * scale, 1 * scale, int(20 * scale)
    api = FakeBotAPI()
    api.overall_limit, api.chat_limit, api.group_limit = (int(overall), 1.0), (int(per_chat), 1.0), (per_group, 60.0)
    await api.start()
    engine = create_engine(db)
    try:
        await migrate(engine)
        sessions = create_sessionmaker(engine)
        unit_id = await seed_recipients(sessions, people, groups)
        async with unit_of_work(sessions) as repos:
            await add_unit(repos, "bench", "rep", "报送单位", None)
            for i in range(reporters):
                await add_user(repos, "bench", 800_000 + i, f"报送员{i}", "rep", ["reporter"], "13800000000")
        env = bot_env(
            api,
            db,
            SEND_OVERALL_PER_SECOND=str(overall),
            SEND_CHAT_PER_SECOND=str(per_chat),
            SEND_CHAT_BURST="1",
            SEND_GROUP_MESSAGES=str(per_group),
            LOG_LEVEL="WARNING",
        )
        bot = BotProcess(env)
        await bot.start(api)
        try:
            stop, idle_steps = asyncio.Event(), []
            tasks = [asyncio.create_task(reporter_steps(api, 800_000 + i, stop, idle_steps)) for i in range(reporters)]
            await asyncio.sleep(quiet)
            stop.set()
            await asyncio.gather(*tasks)

            wanted = set(person_ids(people)) | set(group_ids(groups)) | {9000}

            seen: list[Any] = []
            cursor = 0

            def bulletins() -> list[Any]:
                """The warning messages so far (read incrementally: this process also plays Telegram, and a
                scan of everything it received would stall it and bunch up the arrivals it times)."""
                nonlocal cursor
                new, cursor = api.sent[cursor:], len(api.sent)
                seen.extend(s for s in new if s.method == "sendMessage" and "暴雨" in s.text and s.buttons())
                return seen

            settings = load_settings({}, environ={}, env_file=None)
            config = Config(tz=settings.tz, default_locale=settings.default_locale)
            stop, busy_steps = asyncio.Event(), []
            filed = await publish(sessions, config, unit_id)  # the bot's sender finds it within 2 s
            while not bulletins():  # noqa: ASYNC110 (polled: this process also plays Telegram)
                await asyncio.sleep(0.01)
            tasks = [asyncio.create_task(reporter_steps(api, 800_000 + i, stop, busy_steps)) for i in range(reporters)]
            deadline = time.monotonic() + people / overall * 3 + 120
            while len(bulletins()) < len(wanted) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.5)  # not on every message: this process also plays Telegram
            stop.set()
            await asyncio.gather(*tasks)
            await asyncio.sleep(1.0)  # anything sent twice arrives too
            sent = bulletins()
        finally:
            await bot.stop(signal.SIGTERM)
        times = sorted(s.at for s in sent)
        span = times[-1] - times[0]
        # the limit is on everything the bot sends: the warning and the reporters' answers meanwhile
        everything = sum(1 for s in api.sent if s.method.startswith("send") and times[0] <= s.at <= times[-1])
        counts = Counter(s.chat_id for s in sent)
        return {
            "backend": backend,
            "recipients": filed.recipients,
            "seconds": span,
            "rate": (everything - 1) / span if span else 0.0,
            "warning_rate": (len(sent) - 1) / span if span else 0.0,
            "allowed": overall,
            "late_429": sum(1 for t in api.refused_at if t > times[0] + 1.0),
            "lost": len(wanted - set(counts)),
            "duplicates": sum(n - 1 for n in counts.values()),
            "idle": idle_steps,
            "busy": busy_steps,
        }
    finally:
        await engine.dispose()
        await api.stop()
        if backend == "postgresql":
            await drop_pg_database(db)


async def main_run(args: argparse.Namespace) -> None:
    results = []
    for backend in args.backends.split(","):
        print(
            f"broadcast on {backend}: {args.people} people + {args.groups} groups, limits ×{args.scale:g} …", flush=True
        )
        results.append(await measure(backend, args.people, args.groups, args.scale, args.reporters, args.quiet))
    print(
        f"\n{'backend':<12}{'recipients':>11}{'s':>7}{'sent/s':>8}{'warn/s':>8}{'allowed':>9}{'ratio':>7}"
        f"{'429 >1s':>9}"
        f"{'lost':>6}{'dups':>6}{'step p50/p99 ms quiet':>23}{'during broadcast':>18}"
    )
    for r in results:
        quiet = f"{pct(r['idle'], 50) * 1000:.0f}/{pct(r['idle'], 99) * 1000:.0f}"
        busy = f"{pct(r['busy'], 50) * 1000:.0f}/{pct(r['busy'], 99) * 1000:.0f}"
        print(
            f"{r['backend']:<12}{r['recipients']:>11}{r['seconds']:>7.1f}{r['rate']:>8.1f}{r['warning_rate']:>8.1f}"
            f"{r['allowed']:>9.0f}"
            f"{r['rate'] / r['allowed']:>7.2f}{r['late_429']:>9}{r['lost']:>6}{r['duplicates']:>6}{quiet:>23}"
            f"{busy:>18}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=9000)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=10.0, help="Telegram's limits multiplied by this")
    parser.add_argument("--reporters", type=int, default=5, help="people filling forms meanwhile")
    parser.add_argument("--quiet", type=float, default=8.0, help="seconds of form steps with no broadcast")
    parser.add_argument("--backends", default="sqlite")
    asyncio.run(main_run(parser.parse_args()))


if __name__ == "__main__":
    main()
