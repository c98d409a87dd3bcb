"""Where a bot's CPU goes per update, by stage, from py-spy's raw samples (collapsed stacks).

Each sample is charged to one stage, by the first rule below that its stack matches (frames are py-spy's
"function (file:line)"). The order matters: a statement run while loading the state is "state + user
load", not "database"; the same Bot API code fetching updates is "getUpdates + parsing", sending an answer
is "Bot API calls". Samples of an idle event loop or an idle worker thread are not counted.

    python -m benchmarks.stages PROFILE.txt [CPU_MS_PER_UPDATE]
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

IDLE = "(idle)"
# (stage, any of these function names on the stack); the first match wins
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("inbox: store fetched batch", ("Inbox.record", "UpdateRecorder.__call__.<locals>.<listcomp>")),
    ("getUpdates + update parsing", ("Dispatcher._listen_updates",)),
    ("inbox: mark handled", ("Inbox.take",)),
    ("isolation lock", ("SimpleEventIsolation.lock", "SenderIsolation.lock", "RedisEventIsolation.lock")),
    (
        "state + user load",
        (
            "SqlStorage.get_state",
            "SqlStorage.get_data",
            "SqlStorage._row",
            "SqlStorage.load",
            "UserRepo.by_telegram_id",
            "UpdateContextMiddleware._load",
            "HotPath.load",
        ),
    ),
    (
        "state write",
        (
            "SqlStorage._upsert",
            "SqlStorage.set_state",
            "SqlStorage.set_data",
            "SqlStorage._drop_if_empty",
            "SqlStorage.flush",
        ),
    ),
    ("outbox", ("OutboxStore.save", "Outgoing.to_json", "OutboxStore.forget_sent", "UpdateContextMiddleware._store")),
    ("begin + commit", ("transaction", "unit_of_work", "AsyncSession.commit")),
    (
        "Bot API calls (answers, alerts)",
        ("Notifier.flush", "Notifier.deliver", "AlertCourier.first_try", "AlertCourier.deliver", "Bot.__call__"),
    ),
    ("send limiter", ("SendLimiter._run", "SendLimiter.acquire")),
    (
        "form engine + rendering",
        (
            "Engine.",
            "render",
            "show_turn",
            "form_markup",
            "summary_lines",
            "notice_text",
            "receipt_lines",
            "FormSession._show",
        ),
    ),
    ("handler + use cases: database", ("@sqlalchemy@handler",)),
    ("handler + use cases", ("@handler",)),
    ("aiogram routing + filters", ("Router.propagate_event", "TelegramEventObserver.trigger")),
    ("middleware + dispatch (other)", ("Dispatcher.feed_update", "UpdateContextMiddleware")),
]
FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*?):\d+\)$")


def classify(frames: list[str]) -> str:
    names = []
    files = []
    for frame in frames:
        m = FRAME.match(frame)
        names.append(m.group("fn") if m else frame)
        files.append(m.group("file") if m else "")
    leaf = names[-1] if names else ""
    if leaf in ("EpollSelector.select", "_worker", "_connection_worker_thread") or "wait (threading.py" in frames[-1]:
        return IDLE
    in_handler = any(f.startswith(("handlers/", "bot/usecases/", "storage/")) for f in files)
    for stage, markers in RULES:
        for marker in markers:
            if marker == "@sqlalchemy@handler":
                if in_handler and files and files[-1].startswith(("sqlalchemy/", "sqlite3", "asyncpg/")):
                    return stage
            elif marker == "@handler":
                if in_handler:
                    return stage
            elif (marker.endswith(".") and any(n.startswith(marker) for n in names)) or marker in names:
                return stage
    return "event loop, HTTP and the rest"


def stages(path: Path) -> Counter[str]:
    found: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        found[classify(stack.split(";"))] += int(count)
    return found


def table(found: Counter[str], cpu_ms: float | None = None) -> list[tuple[str, float, float | None]]:
    """(stage, share of the busy samples, ms per update when the CPU per update is given), largest first."""
    busy = sum(n for stage, n in found.items() if stage != IDLE) or 1
    return [
        (stage, n / busy, None if cpu_ms is None else n / busy * cpu_ms)
        for stage, n in found.most_common()
        if stage != IDLE
    ]


def main() -> None:
    path = Path(sys.argv[1])
    cpu_ms = float(sys.argv[2]) if len(sys.argv) > 2 else None
    for stage, share, ms in table(stages(path), cpu_ms):
        print(f"{stage:<36}{share * 100:>7.1f}%" + (f"{ms:>9.2f} ms" if ms is not None else ""))


if __name__ == "__main__":
    main()
