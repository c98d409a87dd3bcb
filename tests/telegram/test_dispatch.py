"""Every filter and handler the dispatcher runs is awaited in place: aiogram hands any plain function (a magic
filter's `resolve` included) to a worker thread, one thread round trip per check on the per-update hot path."""

from __future__ import annotations

from aiogram import F, Router

import handlers
from handlers.filters import PRIVATE, Magic


def callables(router: Router) -> list[tuple[str, object, bool]]:
    found = []
    for name, observer in router.observers.items():
        for f in observer._handler.filters or []:  # router-level filters
            found.append((f"{router.name}.{name} filter", f.callback, f.awaitable))
        for handler in observer.handlers:
            found.append((f"{router.name}.{name} handler", handler.callback, handler.awaitable))
            for f in handler.filters or []:
                found.append((f"{router.name}.{name} filter", f.callback, f.awaitable))
    for sub in router.sub_routers:
        found += callables(sub)
    return found


def test_nothing_the_dispatcher_runs_goes_to_a_thread() -> None:
    found = callables(handlers.setup())
    assert len(found) > 50
    assert [(where, cb) for where, cb, awaitable in found if not awaitable] == []


def test_the_check_catches_a_plain_magic_filter() -> None:
    router = Router(name="probe")
    router.message.register(lambda message: None, F.chat.type == "private")
    assert {where for where, _, awaitable in callables(router) if not awaitable} == {
        "probe.message handler",
        "probe.message filter",
    }


async def test_magic_checks_in_place_as_the_magic_filter_would() -> None:
    from aiogram.types import Chat, Message

    def message(kind: str, text: str) -> Message:
        return Message(message_id=1, date=0, chat=Chat(id=1, type=kind), text=text)

    assert await PRIVATE(message("private", "hi"))
    assert not await PRIVATE(message("group", "hi"))
    typed = Magic(F.text & ~F.text.startswith("/"))
    assert await typed(message("private", "words"))
    assert not await typed(message("private", "/cmd"))
