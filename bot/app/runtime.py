"""Composition root: build the bot, the dispatcher and run long polling."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, ErrorEvent, Update
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import handlers
from bot.app.settings import Settings
from bot.domain import jsoncodec
from bot.domain.clock import Clock, utcnow
from bot.domain.roles import COMMAND_HELP
from bot.telegram import metrics, polling
from bot.telegram.alerts import AlertCourier
from bot.telegram.broadcast import Broadcaster
from bot.telegram.dispatch import BoardKeeper
from bot.telegram.i18n import Catalogs
from bot.telegram.isolation import SenderIsolation
from bot.telegram.limiter import Limits, Priority, SendLimiter
from bot.telegram.middlewares import UpdateContextMiddleware
from bot.telegram.notifier import Notifier, Outbox, Outgoing
from bot.telegram.polling import InFlight, PollPacing, UpdateRecorder
from bot.telegram.presenters import say_text
from bot.telegram.scheduler import Scheduler
from bot.telegram.session import BotApiSession
from bot.telegram.stats import Exporter
from bot.telegram.webhook import WebhookReceiver, webhook_app
from bot.telegram.workers import InboxWorker
from bot.usecases.common import Config
from bot.usecases.drafts import expire_drafts
from bot.usecases.onboarding import set_aside_notices
from storage.db import at_head, create_engine, create_sessionmaker, migrate
from storage.fsm import SqlStorage
from storage.inbox import Claimed, Inbox
from storage.intake import Intake, PostgresIntake
from storage.outbox import OutboxStore
from storage.uow import unit_of_work

log = logging.getLogger(__name__)


def build_bot(settings: Settings, in_flight: InFlight | None = None) -> Bot:
    """The Bot API client; `in_flight`: the updates at work, which getUpdates fetches no more than room for."""
    assert settings.bot_token is not None
    session = BotApiSession(
        api=TelegramAPIServer.from_base(settings.bot_api_base),
        json_loads=polling.loads_keeping,
        json_dumps=jsoncodec.dumps,
    )
    session.middleware(PollPacing(in_flight=in_flight))
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def build_isolation(settings: Settings) -> BaseEventIsolation:
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisEventIsolation

        return RedisEventIsolation.from_url(settings.redis_url)
    return SenderIsolation()


def build_dispatcher(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    catalogs: Catalogs,
    notifier: Notifier,
    inbox: Inbox | None = None,
    outbox_store: OutboxStore | None = None,
    courier: AlertCourier | None = None,
    in_flight: InFlight | None = None,
    clock: Clock = utcnow,
) -> Dispatcher:
    """The dispatcher with its middlewares and handlers; `clock`: the bot's time (the use cases, the scheduler: the
    sandbox passes one it can move; a bot in production keeps the real one)."""
    storage, isolation = SqlStorage(sessionmaker), build_isolation(settings)
    # aiogram's FSM middleware is replaced by ours, which runs the state inside the update's transaction
    dp = Dispatcher(storage=storage, events_isolation=isolation, disable_fsm=True)
    dp.workflow_data.update(alerts=courier or AlertCourier(catalogs, settings.tz, sessionmaker, notifier, clock))
    config = Config(
        clock=clock,
        tz=settings.tz,
        default_locale=settings.default_locale,
        policy=settings.policy(),
        dispatch=settings.dispatch_policy(),
        warnings=settings.warning_policy(),
        cap_sender=settings.cap_sender,
        summary_at=settings.summary_time(),
        table_limits=settings.table_limits(),
    )
    dp.workflow_data.update(exports=Exporter(sessionmaker, notifier, config, catalogs.translator))
    context = UpdateContextMiddleware(
        storage, isolation, sessionmaker, catalogs, notifier, config, inbox, outbox_store, in_flight
    )
    dp.update.outer_middleware(context)
    dp["update_context"] = context
    dp.include_router(handlers.setup())

    @dp.errors()
    async def on_error(event: ErrorEvent, **data: Any) -> bool:
        """Log, and tell the user that nothing was saved from this step so they can retry."""
        log.exception("update %s failed", event.update.update_id, exc_info=event.exception)
        update = event.update
        chat_id = None
        if update.message is not None:
            chat_id = update.message.chat.id
        elif update.callback_query is not None and update.callback_query.message is not None:
            chat_id = update.callback_query.message.chat.id
        if chat_id is not None:
            _ = data.get("_") or catalogs.translator(catalogs.default_locale)
            out = Outbox()
            out.send(chat_id, _("common.internal_error"))
            try:  # through the limiter and the retries, like every other message
                await notifier.flush(out)
            except Exception:  # the error is logged above; never fail the error handler itself
                log.exception("could not tell chat %s about the error", chat_id)
        return True

    return dp


def build_limiter(settings: Settings) -> SendLimiter:
    paid = settings.allow_paid_broadcast  # Telegram's paid broadcasts lift the overall limit
    return SendLimiter(
        Limits(
            overall_per_second=settings.send_paid_per_second if paid else settings.send_overall_per_second,
            chat_per_second=settings.send_chat_per_second,
            chat_burst=settings.send_chat_burst,
            group_messages=settings.send_group_messages,
            group_period=settings.send_group_period,
        )
    )


def make_notifier(
    bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings | None = None
) -> Notifier:
    """The one way out: every send goes through the limiter (when settings are given) and the retries."""

    async def on_migrate(old: int, new: int) -> None:
        async with unit_of_work(sessionmaker) as repos:
            await repos.groups.migrate_chat(old, new)

    if settings is None:
        return Notifier(bot, on_migrate=on_migrate)
    return Notifier(bot, on_migrate=on_migrate, limiter=build_limiter(settings), max_wait=settings.send_max_wait)


async def set_commands(bot: Bot, catalogs: Catalogs) -> None:
    for locale, language_code in (("zh_Hans", None), ("en", "en")):
        _ = catalogs.translator(locale)
        commands = [BotCommand(command=c, description=_(d)[:256]) for c, d in COMMAND_HELP.items()]
        await bot.set_my_commands(commands, scope=BotCommandScopeAllPrivateChats(), language_code=language_code)


# Answers left unsent (a crash, an outage, flood control) are still sent when younger than this; a screen
# that late would only confuse. Alerts, reminders and escalations stay worth sending for a day.
OUTBOX_STALE = timedelta(minutes=30)
OUTBOX_STALE_NOTICE = timedelta(hours=24)
OUTBOX_RETRY = 10.0  # seconds between tries of what Telegram did not accept
OUTBOX_RETRY_AFTER = timedelta(seconds=5)  # a stored message younger than this may still be in its first send
INTAKE_CONNECTIONS = 4  # a webhook worker's connections for storing what Telegram posts (PostgreSQL)
READY_TIMEOUT = 3.0  # seconds /readyz waits for the database or Redis
ALERT_RETRY = 20.0  # seconds between passes over due alert retries
RELEASED_EVERY = 10.0  # seconds between looks for updates an operator released from quarantine
# Handled updates are remembered this long, so an update Telegram sends again is recognised.
INBOX_KEEP = timedelta(days=2)
# A stop (SIGTERM) waits this long for updates being handled: below Docker's default 10 s before SIGKILL.
SHUTDOWN_GRACE = 8.0
# webhook mode on SQLite: the one worker's lease (another worker is refused while it runs)
SQLITE_LEASE = timedelta(seconds=30)


class App:
    """Everything a running bot holds; also used by the tests to run the real thing in-process."""

    def __init__(self, settings: Settings, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.clock = clock  # the bot's time: what the use cases, the scheduler and the broadcaster read
        self.engine: AsyncEngine = create_engine(settings.database_url)
        self.sessionmaker = create_sessionmaker(self.engine)
        self.catalogs = Catalogs(settings.locales_dir, settings.default_locale)
        self.in_flight = InFlight(settings.updates_in_flight)
        self.bot = build_bot(settings, self.in_flight)
        self.inbox = Inbox(self.sessionmaker, self.bot.id)
        self.bot.session.middleware(UpdateRecorder(self.inbox))
        # a stored answer is its process's while it sends it (the lease renewed), then anyone's to retry
        self.outbox = OutboxStore(self.sessionmaker, timedelta(seconds=settings.webhook_lease_seconds))
        self.notifier = make_notifier(self.bot, self.sessionmaker, settings)
        self.courier = AlertCourier(self.catalogs, settings.tz, self.sessionmaker, self.notifier, clock)
        self.dp = build_dispatcher(
            settings,
            self.sessionmaker,
            self.catalogs,
            self.notifier,
            self.inbox,
            self.outbox,
            self.courier,
            self.in_flight,
            clock,
        )
        self.scheduler = Scheduler(
            self.sessionmaker, self.catalogs, self.notifier, self.outbox, self.dp["update_context"].config
        )
        self.dp["update_context"].on_timer = self.scheduler.wake
        config = self.dp["update_context"].config
        self.broadcaster = Broadcaster(
            self.sessionmaker,
            self.catalogs,
            self.notifier,
            config,
            paid=settings.allow_paid_broadcast,
            lease_ttl=settings.broadcast_lease_seconds,
        )
        self.dp["update_context"].on_broadcast = self.broadcaster.wake
        self.boards = BoardKeeper(self.sessionmaker, self.catalogs, self.notifier, self.dp["update_context"].config)
        self.dp["update_context"].on_board = self.boards.wake
        self.background: list[asyncio.Task[None]] = []
        self.outbox_retry_after = OUTBOX_RETRY_AFTER
        self.worker: InboxWorker | None = None  # webhook mode
        self.intake: Intake = self.inbox  # where webhook POSTs are stored
        self.worker_id = worker_name()  # how this worker names itself in the leases it takes
        self.sqlite_lease: str | None = None  # webhook mode on SQLite: the one worker's lease, given back at the stop
        self.web: web.AppRunner | None = None

    async def start(self, polling: bool = True) -> None:
        """Migrate, then what a crash left: with long polling (one process) every answer not sent and every update
        not handled; in webhook mode (any number of workers) only what nobody holds: the workers take the updates
        (InboxWorker) and the retry job the answers (OutboxStore leases)."""
        await migrate(self.engine)
        if polling:
            await self.bot.delete_webhook(drop_pending_updates=False)  # getUpdates answers 409 while one is set
            await self.retry_outbox(everything=True)  # answers the previous run committed but did not send
            await self.replay_inbox()  # then the updates it did not handle
        await set_commands(self.bot, self.catalogs)
        self.background.append(asyncio.create_task(self.scheduler.run()))
        self.background.append(asyncio.create_task(self.broadcaster.run()))
        self.background.append(asyncio.create_task(self.boards.run()))
        self.background.append(asyncio.create_task(self.repeat(self.sweep_drafts, every=900.0)))
        self.background.append(asyncio.create_task(self.alert_retries()))
        self.background.append(asyncio.create_task(self.repeat(self.retry_outbox, every=OUTBOX_RETRY)))
        self.background.append(asyncio.create_task(self.repeat(self.prune_inbox, every=3600.0)))
        self.background.append(asyncio.create_task(self.repeat(self.replay_released, every=RELEASED_EVERY)))
        self.background.append(asyncio.create_task(self.repeat(self.outbox.forget_sent, every=2.0)))
        renew_every = self.outbox.hold.total_seconds() / 3  # (the leases of the answers being sent)
        self.background.append(asyncio.create_task(self.repeat(self.outbox.renew, every=renew_every)))

    async def retry_outbox(self, everything: bool = False) -> int:
        """Send what was committed to be sent and Telegram has not accepted: at start what the previous run
        left (a crash), later what an outage or flood control over the cap left. In order; anything older
        than OUTBOX_STALE (a day for alerts and reminders) is dropped."""
        busy = set() if everything else self.outbox.busy()
        now = utcnow()
        claimed = await self.outbox.claim(now, self.outbox.hold, everything)  # (leased to this process while sent)
        left = [row for row in claimed if row[0] not in busy]
        self.outbox.retrying.update(row[0] for row in left)  # (its lease renewed while it is sent)
        try:
            return await self._send_claimed(left, now, everything)
        finally:
            self.outbox.retrying.clear()

    async def _send_claimed(self, left: list[tuple[int, datetime, str]], now: datetime, everything: bool) -> int:
        sent, done, due, later = 0, [], 0, []
        for row_id, created_at, payload in left:
            if not everything and now - created_at < self.outbox_retry_after:
                later.append(row_id)  # its own update may still be sending it
                continue
            due += 1
            message = Outgoing.from_json(payload)
            if utcnow() - created_at > (OUTBOX_STALE if message.priority == Priority.REPLY else OUTBOX_STALE_NOTICE):
                log.warning("dropped a stored %s message older than its use (%s)", message.priority.name, row_id)
                done.append(row_id)
                continue
            try:
                await self.notifier.deliver(message)
            except Exception:
                log.exception("could not send a stored message (%s); it stays for the next try", row_id)
                later.append(row_id)
                continue
            sent += 1
            done.append(row_id)
        await self.outbox.forget(done)
        await self.outbox.hold_until(later, utcnow())  # free again at once: the next pass (of any process) tries
        if due:
            log.warning("%d stored messages left unsent; %d sent now", due, sent)
        return sent

    async def replay_inbox(self, released: bool = False) -> int:
        """Handle, in order, the updates a crash cut off (stored, confirmed to Telegram, never handled). Each run is
        counted before it starts; an update whose runs were cut off UPDATE_MAX_ATTEMPTS times (it takes the process
        down) is set aside instead, its sender and their unit's administrators are told, and the bot goes on."""
        pending = await self.inbox.pending(released)
        for update_id, payload, attempts in pending:
            if attempts + 1 >= self.settings.update_max_attempts:
                await self.set_aside(update_id, payload, attempts + 1)
                continue
            await self.inbox.count_attempt(update_id)
            self.inbox.recorded.add(update_id)
            try:
                await self.dp.feed_update(self.bot, Update.model_validate_json(payload, context={"bot": self.bot}))
            except Exception:  # the error handler already told the person; go on with the others
                log.exception("replayed update %s failed", update_id)
        if pending:
            log.warning("handled %d updates left unhandled earlier", len(pending))
        return len(pending)

    async def replay_released(self) -> int:
        """Updates an operator released from quarantine (`admin quarantine retry`), run by the bot that is up."""
        return await self.replay_inbox(released=True)

    async def set_aside(self, update_id: int, payload: str, runs: int) -> None:
        """Quarantine a stored update that stopped the process on each of its `runs`, and say so."""
        await self.inbox.quarantine(update_id, f"the process stopped while handling it ({runs} runs)", utcnow())
        log.error("update %s set aside after %d runs cut off (python -m bot admin quarantine)", update_id, runs)
        try:
            update = Update.model_validate_json(payload, context={"bot": self.bot})
        except ValueError:
            return
        event = update.event if update.event_type != "update" else None
        sender = getattr(event, "from_user", None)
        chat = getattr(event, "chat", None) or getattr(getattr(event, "message", None), "chat", None)
        async with unit_of_work(self.sessionmaker) as repos:
            notices = await set_aside_notices(
                repos, sender.id if sender else None, chat.id if chat else None, update_id
            )
        out = Outbox()
        for say in notices:
            out.send(say.chat_id, say_text(say, self.catalogs, self.settings.tz), priority=Priority.ALERT)
        await self.notifier.flush(out)

    async def prune_inbox(self) -> int:
        return await self.inbox.prune(utcnow() - INBOX_KEEP)

    async def sweep_drafts(self, now: datetime | None = None) -> int:
        """Expire report drafts untouched for DRAFT_TTL_DAYS, with a notice to the reporter."""
        async with unit_of_work(self.sessionmaker) as repos:
            notices = await expire_drafts(repos, now or self.clock(), timedelta(days=self.settings.draft_ttl_days))
        out = Outbox()
        for say in notices:
            out.send(say.chat_id, say_text(say, self.catalogs, self.settings.tz))
        await self.notifier.flush(out)
        if notices:
            log.info("expired %d drafts", len(notices))
        return len(notices)

    async def redeliver_alerts(self, now: datetime | None = None, everything: bool = False) -> int:
        """Send again the parts of duty-group alerts Telegram has not accepted yet (crash, outage, bot
        removed); `everything` at start, for what a crash cut off."""
        return await self.courier.retry_due(now or self.clock(), everything)

    async def alert_retries(self) -> None:
        """At start every undelivered alert (what a crash cut off), then the due ones every ALERT_RETRY."""
        everything = True
        while True:
            try:
                await self.redeliver_alerts(everything=everything)
                everything = False
            except Exception:
                log.exception("alert retries failed; retrying later")
            await asyncio.sleep(ALERT_RETRY)

    @staticmethod
    async def repeat(job: Callable[[], Awaitable[int]], every: float) -> None:
        """Run a background job now and then every `every` seconds; a failure is logged and retried."""
        while True:
            try:
                await job()
            except Exception:
                log.exception("%s failed; retrying later", getattr(job, "__name__", job))
            await asyncio.sleep(every)

    async def serve(self) -> None:
        """Webhook mode on a port of its own: listen for Telegram's POSTs (each update stored before the 200), take
        stored updates from the inbox as one of any number of workers, and tell Telegram where to post."""
        self.web = web.AppRunner(await self.webhook_application(), access_log=None)
        await self.web.setup()
        host, _, port = self.settings.webhook_listen.rpartition(":")
        site = web.TCPSite(self.web, host, int(port))
        await site.start()
        await self.open_webhook()

    async def webhook_application(self) -> web.Application:
        """The worker's HTTP application (the webhook, /healthz, /readyz); served by `serve` or by gunicorn's
        aiohttp worker (bot.app.gunicorn)."""
        s = self.settings
        if not s.webhook_url or s.webhook_secret is None:
            raise RuntimeError("serve needs WEBHOOK_URL and WEBHOOK_SECRET")
        if self.engine.dialect.name == "sqlite" and not await self.only_worker_on_sqlite():
            raise SqliteTaken(SQLITE_ONE_WORKER)
        if self.engine.dialect.name == "postgresql":
            # the webhook's POSTs store their update on connections of their own (storage.intake), so the 200 never
            # waits for a connection behind the updates being run (SQLite: the writer's turn puts the inbox first)
            self.intake = await PostgresIntake.open(self.engine.url, self.bot.id, INTAKE_CONNECTIONS)
        self.worker = InboxWorker(
            self.inbox,
            self.run_claimed,
            self.set_aside_claimed,
            self.worker_id,
            s.updates_in_flight,
            timedelta(seconds=s.webhook_lease_seconds),
            s.update_max_attempts,
            self.intake,
        )
        receiver = WebhookReceiver(self.worker.receive, s.webhook_secret.get_secret_value())
        return webhook_app(receiver, s.webhook_path(), self.readiness, metrics.exposition(self.refresh_gauges))

    async def refresh_gauges(self) -> None:
        """The database's side of /metrics, read at each scrape."""
        waiting, oldest = await self.inbox.depth(utcnow())
        metrics.INBOX_WAITING.set(waiting)
        metrics.INBOX_OLDEST.set(oldest)
        metrics.OUTBOX_WAITING.set(await self.outbox.depth())
        now = utcnow()
        async with unit_of_work(self.sessionmaker) as repos:
            due = [at for at in (await repos.deadlines.next_at(), await repos.deadlines.next_ack_at()) if at]
            metrics.SCHEDULER_LAG.set(max(0.0, (now - min(due)).total_seconds()) if due else 0.0)
            metrics.BROADCAST_QUEUED.set(await repos.warnings.queued_total())

    async def open_webhook(self) -> None:
        """Start taking work from the inbox and tell Telegram where to post (setWebhook, with the secret)."""
        s = self.settings
        assert self.worker is not None and s.webhook_secret is not None and s.webhook_url is not None
        self.background.append(asyncio.create_task(self.worker.run()))
        self.background.append(asyncio.create_task(self.worker.renew()))
        self.background.append(asyncio.create_task(self.inbox.listen(self.worker.wake)))
        await self.bot.set_webhook(
            url=s.webhook_url,
            secret_token=s.webhook_secret.get_secret_value(),
            allowed_updates=self.dp.resolve_used_update_types(),
            max_connections=s.webhook_max_connections,
            drop_pending_updates=False,
        )

    async def readiness(self) -> list[str]:
        """What keeps this worker from serving: the database unreachable or not migrated to this code's head,
        Redis unreachable (when set). Empty: ready."""
        problems = []
        try:
            if not await asyncio.wait_for(at_head(self.engine), READY_TIMEOUT):
                problems.append("the database schema is not at this code's migration (python -m bot migrate)")
        except Exception as exc:
            problems.append(f"database unreachable ({type(exc).__name__})")
        redis = getattr(self.dp["update_context"].events_isolation, "redis", None)
        if redis is not None:
            try:
                await asyncio.wait_for(redis.ping(), READY_TIMEOUT)
            except Exception as exc:
                problems.append(f"Redis unreachable ({type(exc).__name__})")
        return problems

    async def only_worker_on_sqlite(self) -> bool:
        """SQLite: take the one serving lease (renewed while this worker runs); False while another holds it."""
        name, me = "webhook-sqlite", self.worker_id

        async def take() -> bool:
            async with unit_of_work(self.sessionmaker) as repos:
                return await repos.leases.take(name, me, utcnow(), utcnow() + SQLITE_LEASE)

        if not await take():
            return False
        self.sqlite_lease = name

        async def renew() -> int:
            await take()
            return 0

        self.background.append(asyncio.create_task(self.repeat(renew, every=SQLITE_LEASE.total_seconds() / 3)))
        return True

    async def run_claimed(self, claimed: Claimed) -> None:
        await self.dp.feed_update(self.bot, Update.model_validate_json(claimed.payload, context={"bot": self.bot}))

    async def set_aside_claimed(self, claimed: Claimed) -> None:
        await self.set_aside(claimed.update_id, claimed.payload, claimed.runs)

    async def poll(self) -> None:
        await self.dp.start_polling(
            self.bot,
            polling_timeout=self.settings.polling_timeout,
            handle_signals=False,
            close_bot_session=False,
        )

    async def close(self) -> None:
        """After polling stopped (or the webhook's listener): let the updates in flight commit and send their
        answers, then close."""
        if self.web is not None:  # no new requests; what was stored is taken by the other workers, or at the restart
            await self.web.cleanup()
        if self.worker is not None:
            unfinished = await self.worker.stop(SHUTDOWN_GRACE)
            if unfinished:
                log.warning("stopped with %d updates unfinished; another worker runs them", unfinished)
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)  # stopped before the database closes
        self.background.clear()
        if self.sqlite_lease is not None:  # a worker started right after this one may serve at once
            try:
                async with unit_of_work(self.sessionmaker) as repos:
                    await repos.leases.release(self.sqlite_lease, self.worker_id)
            except Exception:  # it runs out instead
                log.exception("could not give back the SQLite serving lease")
        context: UpdateContextMiddleware = self.dp["update_context"]
        unfinished = await context.drain(SHUTDOWN_GRACE)
        if unfinished:
            log.warning("stopped with %d updates unfinished; their transactions roll back", unfinished)
        try:
            await self.outbox.forget_sent()
        except Exception:  # they are sent once more at the next start; never block the stop
            log.exception("could not forget the messages sent last")
        await context.held.close()
        await self.bot.session.close()
        await self.intake.close()
        await self.engine.dispose()


# Collect the youngest objects every 10,000 allocations instead of Python's 700: an update allocates thousands
# (pydantic models, the ORM's rows, aiohttp's requests), nearly all gone when it ends, so at 700 the collector
# kept finding the objects of updates still in flight and moving them up to older generations to scan again.
GC_THRESHOLDS = (10_000, 20, 20)


def settle_heap() -> None:
    """Take what start-up built out of the garbage collector's sight: modules, classes, catalogs, the ORM's
    and aiogram's models live as long as the process, yet every full collection walked all of them again
    (about 200 ms each under load, and a stall of every update in flight). Frozen objects are never
    collected, so the garbage of start-up (migrations) is collected first. Then the thresholds above
    (measured in bench_report: the collector's time per run fell from about 0.9 s to 0.35 s and the bot's
    CPU per update by about a tenth)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


SQLITE_ONE_WORKER = (
    "SQLite serves one webhook worker (it has one writer) and another one already serves this database file; run "
    "several workers on PostgreSQL (DATABASE_URL=postgresql+asyncpg://…)"
)


class SqliteTaken(RuntimeError):
    """serve on SQLite while another worker serves the same database file."""


def worker_name() -> str:
    """This worker, as the leases it takes name it: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def serve(settings: Settings) -> None:
    """Webhook mode: apply migrations, serve the webhook and work the inbox until SIGINT/SIGTERM."""
    app = App(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start(polling=False)
        await app.serve()
        settle_heap()
        log.info("serving the webhook on %s", settings.webhook_listen)
        await stop.wait()
    finally:
        await app.close()


async def run(settings: Settings) -> None:
    """Apply migrations and poll until SIGINT/SIGTERM."""
    app = App(settings)
    try:
        await app.start()
        settle_heap()
        await app.dp.start_polling(
            app.bot, polling_timeout=settings.polling_timeout, close_bot_session=False, handle_signals=True
        )
    finally:
        await app.close()
