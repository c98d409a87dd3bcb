"""Per-stage timers patched into the bot under test (never into production code), for bench_report.

Each stage is a function of the hot path wrapped with a timer; time spent in a nested stage is charged to
the inner one only, so the figures add up to the update's whole time. Run with one reporter at a time:
with nothing interleaved, a stage's wall time is its own (on SQLite a statement runs on the loop's thread;
on PostgreSQL the stage includes the server's round trips; a Bot API call includes the fake server's answer).
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

TOTALS: Counter[str] = Counter()
CALLS: Counter[str] = Counter()
_stack: list[list[float]] = []  # [start, time of nested stages]


def _enter() -> None:
    _stack.append([time.perf_counter(), 0.0])


def _leave(stage: str) -> None:
    start, nested = _stack.pop()
    spent = time.perf_counter() - start
    TOTALS[stage] += spent - nested
    CALLS[stage] += 1
    if _stack:
        _stack[-1][1] += spent


def timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        _enter()
        try:
            return await fn(*args, **kwargs)
        finally:
            _leave(stage)

    return wrapper


def timed_sync(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _enter()
        try:
            return fn(*args, **kwargs)
        finally:
            _leave(stage)

    return wrapper


def timed_cm(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """An async context manager whose entry and exit (not its body) count as the stage."""

    @asynccontextmanager
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        cm = fn(*args, **kwargs)
        _enter()
        try:
            value = await cm.__aenter__()
        finally:
            _leave(stage)
        try:
            yield value
        except BaseException as e:
            _enter()
            try:
                if not await cm.__aexit__(type(e), e, e.__traceback__):
                    raise
            finally:
                _leave(stage)
        else:
            _enter()
            try:
                await cm.__aexit__(None, None, None)
            finally:
                _leave(stage)

    return wrapper


def install(out: Path) -> None:
    """Wrap the hot path's stages; write the totals to `out` when the process ends."""
    import atexit

    import aiogram.client.session.base as session_base
    import aiogram.dispatcher.dispatcher as dispatcher
    import aiogram.dispatcher.event.handler as event_handler
    import aiogram.fsm.storage.memory as memory

    import bot.telegram.middlewares as middlewares
    import bot.telegram.notifier as notifier
    import bot.usecases.conversation as conversation
    import conversations.engine as engine
    import handlers.forms as forms
    import storage.fsm as fsm
    import storage.inbox as inbox
    import storage.outbox as outbox
    import storage.repositories as repositories
    import storage.uow as uow

    dispatcher.Dispatcher.feed_update = timed("aiogram dispatch", dispatcher.Dispatcher.feed_update)
    event_handler.HandlerObject.call = timed("handler + use cases", event_handler.CallableObject.call)
    original_check = session_base.BaseSession.check_response

    def check_response(self: Any, bot: Any, method: Any, status_code: int, content: str) -> Any:
        stage = "update parsing (getUpdates answer)" if type(method).__name__ == "GetUpdates" else "Bot API calls"
        return timed_sync(stage, original_check)(self, bot, method, status_code, content)

    session_base.BaseSession.check_response = check_response  # type: ignore[method-assign]
    inbox.Inbox.record = timed("inbox: store the fetched batch", inbox.Inbox.record)
    try:
        from storage import update as update_tx
    except ImportError:  # an older commit measured with this file
        update_tx = None  # type: ignore[assignment]
    if update_tx is not None:
        update_tx.UpdateTx.begin = timed("inbox: mark handled", update_tx.UpdateTx.begin)  # type: ignore[method-assign]
        for name in ("get_state", "get_data"):
            setattr(update_tx.UpdateFsm, name, timed("state + user load", getattr(update_tx.UpdateFsm, name)))
        for name in ("set_state", "set_data"):
            setattr(update_tx.UpdateFsm, name, timed("state write", getattr(update_tx.UpdateFsm, name)))
    elif hasattr(inbox.Inbox, "take"):
        inbox.Inbox.take = timed("inbox: mark handled", inbox.Inbox.take)
    memory.SimpleEventIsolation.lock = timed_cm("isolation lock", memory.SimpleEventIsolation.lock)
    try:
        from bot.telegram import isolation
    except ImportError:  # an older commit measured with this file
        isolation = None  # type: ignore[assignment]
    if isolation is not None:
        isolation.SenderIsolation.lock = timed_cm("isolation lock", isolation.SenderIsolation.lock)  # type: ignore[method-assign]
    for name in ("get_state", "get_data"):
        setattr(fsm.SqlStorage, name, timed("state + user load", getattr(fsm.SqlStorage, name)))
    if hasattr(fsm.SqlStorage, "preload"):
        fsm.SqlStorage.preload = timed("state + user load", fsm.SqlStorage.preload)
    repositories.UserRepo.by_telegram_id = timed("state + user load", repositories.UserRepo.by_telegram_id)
    for name in ("set_state", "set_data", "flush"):
        if hasattr(fsm.SqlStorage, name):
            setattr(fsm.SqlStorage, name, timed("state write", getattr(fsm.SqlStorage, name)))
    engine.Engine.handle = timed_sync("form engine + rendering", engine.Engine.handle)
    conversation.render = timed_sync("form engine + rendering", conversation.render)
    forms.show_turn = timed_sync("form engine + rendering", forms.show_turn)
    outbox.OutboxStore.save = timed("outbox", outbox.OutboxStore.save)
    if hasattr(outbox.OutboxStore, "save_in"):
        outbox.OutboxStore.save_in = timed("outbox", outbox.OutboxStore.save_in)
    notifier.Outgoing.to_json = timed_sync("outbox", notifier.Outgoing.to_json)
    if hasattr(middlewares, "update_transaction"):  # the update's transaction on the driver's connection
        middlewares.update_transaction = timed_cm("begin + commit", middlewares.update_transaction)
    else:
        middlewares.unit_of_work = timed_cm("begin + commit", uow.unit_of_work)
    notifier.Notifier.flush = timed("Bot API calls", notifier.Notifier.flush)
    original_handle = middlewares.UpdateContextMiddleware._handle

    async def handle(self: Any, handler: Any, event: Any, data: dict[str, Any]) -> Any:
        return await original_handle(self, timed("aiogram routing + filters", handler), event, data)

    middlewares.UpdateContextMiddleware._handle = handle  # type: ignore[method-assign]
    middlewares.UpdateContextMiddleware.__call__ = timed(
        "middleware (the rest)", middlewares.UpdateContextMiddleware.__call__
    )

    def dump() -> None:
        out.write_text(json.dumps({"seconds": dict(TOTALS), "calls": dict(CALLS)}))

    atexit.register(dump)


def read(path: Path) -> dict[str, float]:
    """Seconds per stage, from the file `install` wrote."""
    if not path.exists():
        return {}
    return defaultdict(float, json.loads(path.read_text())["seconds"])
