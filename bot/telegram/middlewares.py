"""Per update, in this order: the sender's isolation lock, one transaction (storage.update: the update
claimed in the inbox, the conversation state and the people counter in one read, the user from the per-process cache
(storage.people) and their language, the handler, the conversation row written once, its messages stored
in the outbox table); then, after the commit, the messages are sent. Handlers receive the update's use
cases (`uc`), its sender (`user`), their language (`_`) and the outbox (`out`).

aiogram's own FSM middleware would load the state before our transaction opens (its own session,
its own commit); this one subclasses it so that the isolation lock wraps everything and the state is
read and written in the update's transaction. The outbox is flushed while the sender's lock is still
held, so one person's messages always arrive in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from datetime import datetime
from html import escape
from typing import Any

from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.fsm.context import FSMContext
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.base import BaseEventIsolation
from aiogram.types import TelegramObject
from aiogram.types import User as TgUser
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.locales import resolve_locale
from bot.domain.text import redact
from bot.telegram.callbacks import pressed_on_its_message
from bot.telegram.i18n import Catalogs, Translator
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Notifier, Outbox, Outgoing
from bot.telegram.polling import InFlight
from bot.usecases.common import Config, Refused
from bot.usecases.facade import UseCases
from storage.fsm import SqlStorage
from storage.inbox import Inbox
from storage.outbox import OutboxStore
from storage.people import PeopleCache
from storage.repositories import Repos
from storage.update import HandledElsewhere, HeldConnection, update_transaction


class UpdateContextMiddleware(FSMContextMiddleware):
    def __init__(
        self,
        storage: SqlStorage,
        events_isolation: BaseEventIsolation,
        sessionmaker: async_sessionmaker[AsyncSession],
        catalogs: Catalogs,
        notifier: Notifier,
        config: Config,
        inbox: Inbox | None = None,
        outbox_store: OutboxStore | None = None,
        in_flight: InFlight | None = None,
    ) -> None:
        super().__init__(storage=storage, events_isolation=events_isolation)
        self.config = config
        self.inbox = inbox
        self.outbox_store = outbox_store
        self.at_work = in_flight  # counted while it holds its sender's turn (what getUpdates fetches room for)
        self.sessionmaker = sessionmaker
        self.catalogs = catalogs
        self.notifier = notifier
        self.people = PeopleCache()
        self.held = HeldConnection()  # SQLite: the updates' connection, kept between them
        self.in_flight: set[asyncio.Task[Any]] = set()  # updates being handled, for a graceful stop
        self.on_timer: Callable[[datetime], None] | None = None  # an update committed a timer (the scheduler)
        self.on_broadcast: Callable[[], None] | None = None  # an update published a warning (the sender)
        self.on_board: Callable[[], None] | None = None  # an update moved a dispatch order (its board)

    async def drain(self, timeout: float) -> int:
        """Wait (at most `timeout` seconds) for the updates being handled; returns how many did not finish."""
        current = asyncio.current_task()
        pending = {t for t in self.in_flight if t is not current}
        if pending:
            _done, left = await asyncio.wait(pending, timeout=timeout)
            for task in left:  # what did not finish rolls back; alert parts not sent stay for the next start
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)
            return len(left)
        return 0

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)
        try:
            return await self._handle(handler, event, data)
        finally:
            self.in_flight.discard(task)  # type: ignore[arg-type]

    async def _handle(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        context = self.resolve_event_context(data["bot"], data)
        data["fsm_storage"] = self.storage
        tg_user: TgUser | None = data.get("event_from_user")
        outbox = Outbox()
        update_id: int | None = getattr(event, "update_id", None)
        if self.at_work is not None:
            self.at_work.arrived(update_id)
        taken: bool | None = None
        timer: datetime | None = None
        broadcast = False
        stored: list[int] = []
        durable: list[Outgoing] = []
        failed: list[Outgoing] = []
        async with self._sender_turn(context):
            try:
                async with update_transaction(self.sessionmaker, self.held, self.inbox) as tx:
                    row_key = self.storage.key_builder.build(context.key) if context is not None else None
                    begun = await tx.begin(update_id, row_key)  # taken, the sender's row, the people counter
                    taken, version = begun.taken, begun.people_version
                    if taken is False:  # handled before (its effects are committed): never twice
                        return UNHANDLED
                    if context is not None:  # the form's state, in this transaction
                        context = FSMContext(storage=tx.fsm(self.storage.key_builder), key=context.key)
                        data.update(state=context, raw_state=await context.get_state())
                    user = await self.people.get(tx, tg_user.id, version) if tg_user else None
                    if user is not None and not user.active:
                        user = None
                    locale = resolve_locale(
                        user.locale if user else None,
                        tg_user.language_code if tg_user else None,
                        self.catalogs.default_locale,
                    )
                    # the session is opened only if the handler needs it
                    repos = Repos(lambda: tx.session, self.people.units(version))
                    chat = data.get("event_chat")
                    group_chat_id = chat.id if chat is not None and chat.type != "private" else None
                    translate = self.catalogs.translator(locale)
                    data.update(
                        user=user, uc=UseCases(repos, user, self.config, group_chat_id), _=translate, out=outbox
                    )
                    result = await self._handle_checked(handler, event, data, translate, outbox)
                    if self.outbox_store is not None:
                        durable = outbox.durable()
                        stored = await self.outbox_store.save_in(tx, [o.to_json() for o in durable])
                    timer = tx.info.get("wake_at")
                    broadcast = bool(tx.info.get("broadcast"))
                    board = bool(tx.info.get("board"))
            except HandledElsewhere:  # another process took it first: nothing of this run was written or is sent
                return UNHANDLED
            except Exception as exc:
                if self.outbox_store is not None:
                    self.outbox_store.release(stored)  # rolled back with the update: nothing was stored
                if taken and self.inbox is not None and update_id is not None:  # the error handler tells the person
                    await self.inbox.mark_handled(update_id, redact(f"{type(exc).__name__}: {exc}"))  # no replay
                raise
            if timer is not None and self.on_timer is not None:
                self.on_timer(timer)
            if broadcast and self.on_broadcast is not None:
                self.on_broadcast()
            if board and self.on_board is not None:
                self.on_board()
            # Committed: now answer the person, still in their turn so their screens arrive in order.
            failed += await self.notifier.flush(outbox, only=lambda item: item.priority == Priority.REPLY)
        # The sender's next update may start now; what goes to others (alerts, administrators) follows.
        failed += await self.notifier.flush(outbox)
        for work in outbox.later:
            self.spawn(work)
        if self.outbox_store is not None:
            not_accepted = {id(item) for item in failed}
            self.outbox_store.sent([i for i, item in zip(stored, durable, strict=True) if id(item) not in not_accepted])
            self.outbox_store.release([i for i, item in zip(stored, durable, strict=True) if id(item) in not_accepted])
        return result

    async def _handle_checked(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
        translate: Translator,
        outbox: Outbox,
    ) -> Any:
        """The handler, after the one check every button gets (it was on the message it was pressed on), with a
        use case's refusal answered in one place: a popup for a button, a reply in the chat for a message."""
        query = getattr(event, "callback_query", None)
        if query is not None and not pressed_on_its_message(query, data["bot"].id):
            outbox.answer_callback(query.id, translate("common.forged_button"), show_alert=True)
            return UNHANDLED
        try:
            return await handler(event, data)
        except Refused as refused:  # the one place a use case's refusal becomes what the person sees
            text = translate(refused.msgid, **{k: escape(str(v)) for k, v in refused.params.items()})
            chat = data.get("event_chat")
            if query is not None and not outbox.answered(query.id):
                outbox.answer_callback(query.id, text[:200], show_alert=True)
            elif chat is not None:  # a message, or a press the handler answered already
                outbox.send(chat.id, text)
            return None

    @asynccontextmanager
    async def _sender_turn(self, context: Any) -> AsyncIterator[None]:
        """The sender's isolation lock (one update of theirs at a time), and while it is held, one update at work."""
        async with self.events_isolation.lock(key=context.key) if context else nullcontext():
            with self.at_work.turn() if self.at_work is not None else nullcontext():
                yield

    def spawn(self, work: Callable[[], Awaitable[Any]]) -> None:
        """Run work started by an update (alert deliveries) in the background; a stop waits for it."""
        task = asyncio.get_running_loop().create_task(work())
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
