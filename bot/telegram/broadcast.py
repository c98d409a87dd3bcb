"""The early-warning sender: delivers the queued delivery rows of published warnings, inside `python -m bot
run`, while it holds the `broadcast` lease (one sender per bot at a time, even with several processes on
PostgreSQL; another takes over within LEASE_TTL seconds if it dies).

- Order: red before orange before yellow before blue, then the oldest warning, then row order. At most
  WINDOW sends are in flight, so a red warning published during a blue broadcast goes out within a moment.
- Limits: every send goes through the limiter at BULK priority: 30 msg/s overall, 1 msg/s per chat, 20/min
  per group (settings), and replies to people and duty-group alerts always go first.
- Answers: 429 pauses the chat for retry_after and resends (the notifier); 403 and "chat not found" mark the
  recipient unreachable, never retried; a migrated group is followed (its chat id changes everywhere) and
  the message resent there; 5xx and timeouts retry with backoff inside the notifier, then here at
  RETRY_AFTER steps, and the row is marked failed after MAX_ATTEMPTS; a text over 4096 is split. Only Telegram's
  answers count as attempts: a database error before the send (the warning could not be read) leaves the row
  queued, to go again after READ_RETRY.
- Crash safety: a row leaves `queued` only when its answer is recorded (batched every FLUSH_EVERY seconds).
  Killed mid-broadcast, the next holder sends every row still queued; the only duplicates are the sends in
  flight or answered but not yet recorded at the kill: at most WINDOW + FLUSH_EVERY × rate messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.telegram.i18n import Catalogs
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Deferred, Notifier, Outgoing, Unreachable
from bot.telegram.warnings import bulletin_text, progress_text, received_markup
from bot.usecases.common import Config
from bot.usecases.warnings import Bulletin, bulletin_of
from storage.uow import unit_of_work

log = logging.getLogger(__name__)

LEASE = "broadcast"
LEASE_TTL = 15.0  # seconds: a dead holder's lease runs out this long after its last renewal (renewed every third)
WINDOW = 64  # sends in flight at once, at least; more at higher rates (one second's worth: see window_for)
FLUSH_EVERY = 0.25  # seconds between writes of answers (and the bound on duplicates after a kill)
PROGRESS_EVERY = 3.0  # seconds between edits of a publisher's progress message
PROGRESS_TRIES = 5  # a progress edit that fails is tried again at the next edit, this many times in all
PROGRESS_RETRY = 0.5  # seconds: with nothing else to do, a failed progress edit is tried again this soon
STOP_WAIT = 2.0  # seconds a stop waits for the sends in flight (answered ones are recorded, not sent again)
IDLE_POLL = 2.0  # with nothing queued: look again this often (another process may have published)
MAX_ATTEMPTS = 4  # tries of a row (each with the notifier's own retries inside) before it is marked failed
RETRY_AFTER = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=5))
READ_RETRY = timedelta(seconds=2)  # the warning could not be read (a database error): the row waits this long


def window_for(rate: float) -> int:
    """Sends in flight: a send spends its round trip plus its wait in the limiter in flight, so fewer than a
    second's worth would cap the rate below the limit (measured at ×10 limits: 64 in flight gave 0.82)."""
    return max(WINDOW, int(rate))


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Broadcaster:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        catalogs: Catalogs,
        notifier: Notifier,
        config: Config,
        holder: str | None = None,
        lease_ttl: float = LEASE_TTL,
        window: int | None = None,
        paid: bool = False,
    ) -> None:
        self.sessionmaker, self.catalogs, self.notifier, self.config = sessionmaker, catalogs, notifier, config
        self.holder = holder or holder_id()
        self.lease_ttl, self.window = lease_ttl, window or window_for(config.warnings.send_rate)
        self.renew_every = lease_ttl / 3
        self.paid = paid  # allow_paid_broadcast: Telegram lets such a bot send up to 1000 messages/s (paid)
        self._wake = asyncio.Event()
        self._lease_until = 0.0  # monotonic: dispatch nothing new after this without a renewal
        self._bulletins: dict[int, Bulletin | None] = {}
        self._texts: dict[tuple[int, str], str] = {}
        self._results: list[dict[str, Any]] = []
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._touched: set[int] = set()  # warnings sent to since the last progress edit
        self._progress_shown: dict[int, str] = {}
        self._progress_failures: Counter[int] = Counter()  # failed progress edits in a row, per warning
        self._progress_at: dict[int, tuple[int, int]] = {}  # progress messages this process sent: (chat, message)
        self.sent = 0  # rows sent by this process (tests, benchmark)

    def wake(self) -> None:
        """A warning was published: look at the queue now."""
        self._wake.set()

    @property
    def holding(self) -> bool:
        return time.monotonic() < self._lease_until

    async def _take_lease(self) -> bool:
        now = self.config.clock()
        started = time.monotonic()
        try:
            async with unit_of_work(self.sessionmaker) as repos:
                taken = await repos.leases.take(LEASE, self.holder, now, now + timedelta(seconds=self.lease_ttl))
        except Exception:
            log.exception("could not take or renew the broadcast lease")
            return False
        if taken:
            self._lease_until = started + self.lease_ttl - self.renew_every / 2
        elif self._lease_until:
            log.warning("broadcast lease lost to another process")
            self._lease_until = 0.0
        return taken

    async def release(self) -> None:
        """At a stop: let another process take over at once."""
        if self._lease_until:
            with contextlib.suppress(Exception):
                async with unit_of_work(self.sessionmaker) as repos:
                    await repos.leases.release(LEASE, self.holder)
            self._lease_until = 0.0

    async def run(self) -> None:
        """Forever: hold the lease and send, or wait for it (another process sends meanwhile)."""
        try:
            while True:
                try:
                    if await self._take_lease():
                        await self._serve()
                    else:
                        await self._sleep(self.lease_ttl / 3)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("broadcast sender failed; going on shortly")
                    await asyncio.sleep(1.0)
        finally:
            if self._in_flight:  # a stop: the sends already on their way get a moment to be answered and recorded
                await asyncio.wait(list(self._in_flight.values()), timeout=STOP_WAIT)
            for task in self._in_flight.values():
                task.cancel()
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
            self._in_flight.clear()
            with contextlib.suppress(Exception):
                await self._flush()
            await self.release()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def _serve(self) -> None:
        """Send while holding the lease; returns when it was lost (after the sends in flight)."""
        last_renew = last_flush = last_progress = time.monotonic()
        while True:
            now_m = time.monotonic()
            if now_m - last_renew >= self.renew_every:
                await self._take_lease()
                last_renew = now_m
            rows: list[dict[str, Any]] = []
            if self.holding and len(self._in_flight) <= self.window // 2:  # refill in batches, not per answer
                self._wake.clear()
                skip = set(self._in_flight) | {r["id"] for r in self._results}
                async with unit_of_work(self.sessionmaker) as repos:
                    rows = await repos.warnings.next_queued(
                        self.config.clock(), self.window - len(self._in_flight), skip
                    )
                for row in rows:
                    self._in_flight[row["id"]] = asyncio.create_task(self._send(row))
            if now_m - last_flush >= FLUSH_EVERY or len(self._results) >= self.window:
                await self._flush()
                last_flush = now_m
            if now_m - last_progress >= PROGRESS_EVERY:
                await self._progress()
                last_progress = now_m
            if not self._in_flight:
                await self._flush()
                if self._touched:
                    await self._progress()
                if not self.holding:
                    return
                if not rows:
                    await self._sleep(await self._idle_wait())
                continue
            _done, _pending = await asyncio.wait(
                list(self._in_flight.values()), timeout=FLUSH_EVERY, return_when=asyncio.FIRST_COMPLETED
            )

    async def _idle_wait(self) -> float:
        async with unit_of_work(self.sessionmaker) as repos:
            retry = await repos.warnings.next_retry_at()
        wait = IDLE_POLL if not self._touched else PROGRESS_RETRY  # a failed progress edit waits to be tried again
        if retry is not None:
            wait = min(wait, max(0.05, (retry - self.config.clock()).total_seconds()))
        return wait

    async def _bulletin(self, warning_id: int) -> Bulletin | None:
        if warning_id not in self._bulletins:
            async with unit_of_work(self.sessionmaker) as repos:
                self._bulletins[warning_id] = await bulletin_of(repos, warning_id)
        return self._bulletins[warning_id]

    def _text(self, b: Bulletin, locale: str) -> str:
        key = (b.warning_id, locale)
        if key not in self._texts:
            self._texts[key] = bulletin_text(b, self.catalogs.translator(locale), self.config.tz)
        return self._texts[key]

    async def _send(self, row: dict[str, Any]) -> None:
        now = self.config.clock
        result: dict[str, Any] = {
            "id": row["id"],
            "state": "queued",
            "attempts": row["attempts"],
            "next_at": None,
            "message_id": None,
            "chat_id": row["chat_id"],
            "sent_at": None,
            "error": None,
            "remind_at": None,
        }
        try:
            try:
                b = await self._bulletin(row["warning_id"])
            except Exception as exc:  # the database, not Telegram: not an attempt; the row waits a moment
                log.warning(
                    "warning delivery %s: its warning could not be read (%s); trying again shortly", row["id"], exc
                )
                result.update(next_at=now() + READ_RETRY, error=f"{type(exc).__name__}: {exc}"[:300])
                return
            if b is None:
                result.update(state="failed", error="warning not found")
                return
            locale = row["locale"] or self.catalogs.default_locale
            _ = self.catalogs.translator(locale)
            kwargs: dict[str, Any] = {
                "chat_id": row["chat_id"],
                "text": self._text(b, locale),
                "reply_markup": received_markup(row["id"], _),
            }
            if self.paid:
                kwargs["allow_paid_broadcast"] = True
            message = Outgoing("send_message", kwargs, priority=Priority.BULK)
            sent = await self.notifier.deliver(message, strict=True)
            at = now()
            result.update(state="sent", sent_at=at)
            if isinstance(sent, Message):
                result.update(message_id=sent.message_id, chat_id=sent.chat.id)
            if b.msg_type != "cancel":
                result["remind_at"] = at + self.config.warnings.remind_after
            self.sent += 1
        except Unreachable as exc:
            result.update(state="unreachable", error=str(exc)[:300])
        except asyncio.CancelledError:
            result.clear()  # stopped mid-send: the row stays queued and is sent again by the next holder
            raise
        except Exception as exc:  # Telegram's: 5xx or timeouts after the notifier's retries, 429 over its cap, 400s
            attempts = row["attempts"] + 1
            result.update(attempts=attempts, error=f"{type(exc).__name__}: {exc}"[:300])
            if attempts >= MAX_ATTEMPTS or not isinstance(exc, Deferred):
                result["state"] = "failed"
                log.warning("warning delivery %s to %s failed: %s", row["id"], row["chat_id"], exc)
            else:
                result["next_at"] = now() + RETRY_AFTER[min(attempts, len(RETRY_AFTER)) - 1]
        finally:
            if result:
                self._results.append(result)
                self._touched.add(row["warning_id"])
            self._in_flight.pop(row["id"], None)

    async def _flush(self) -> None:
        """Write the answers received so far (one statement), so those rows are never sent again."""
        if not self._results:
            return
        results, self._results = self._results, []
        try:
            async with unit_of_work(self.sessionmaker) as repos:
                await repos.warnings.record(results)
        except Exception:
            self._results[:0] = results  # kept: written at the next flush
            raise

    async def _progress(self) -> None:
        """Edit each touched warning's progress message for its publisher; close the finished ones.

        The touched set is taken before the answers so far are recorded: an answer that comes in while they are
        being written touches its warning again, for the next round (taken after, it would be counted in neither:
        the warning would show a stale count and never be closed, as nothing touches it again). A warning this
        round did not get to (a database error) stays touched."""
        touched, self._touched = self._touched, set()
        pending = sorted(touched)
        try:
            await self._flush()
            while pending:
                await self._show_progress(pending[0])
                pending.pop(0)
        finally:
            self._touched.update(pending)

    async def _show_progress(self, warning_id: int) -> None:
        b = await self._bulletin(warning_id)
        if b is None or not b.author_chat:
            return
        async with unit_of_work(self.sessionmaker) as repos:
            counts = await repos.warnings.counts(warning_id)
            queued = await repos.warnings.queued_total()
            if counts.get("queued", 0) == 0:
                await repos.warnings.finish(warning_id, self.config.clock())
        _ = self.catalogs.translator(b.author_locale or self.catalogs.default_locale)
        left = queued / self.config.warnings.send_rate
        text = progress_text(b, counts, left, _)
        if self._progress_shown.get(warning_id) != text:
            self._progress_shown[warning_id] = text
            if not await self._edit_progress(b, text):
                return
        if counts.get("queued", 0) == 0:
            self._bulletins.pop(warning_id, None)
            self._texts = {k: v for k, v in self._texts.items() if k[0] != warning_id}
            for kept in (self._progress_shown, self._progress_failures, self._progress_at):
                kept.pop(warning_id, None)

    async def _edit_progress(self, b: Bulletin, text: str) -> bool:
        """Show `text` in the publisher's progress message (sent first when there is none); False when it failed
        and is to be tried again (the warning stays touched)."""
        warning_id = b.warning_id
        # the message this process sent is kept here: a bulletin read before it was recorded would not know it
        where = self._progress_at.get(warning_id) or b.progress
        try:
            if where is None:
                sent = await self.notifier.deliver(Outgoing("send_message", {"chat_id": b.author_chat, "text": text}))
                if isinstance(sent, Message):
                    self._progress_at[warning_id] = (sent.chat.id, sent.message_id)
                    async with unit_of_work(self.sessionmaker) as repos:
                        await repos.warnings.set_progress(warning_id, sent.chat.id, sent.message_id)
            else:
                await self.notifier.deliver(
                    Outgoing("edit_message_text", {"chat_id": where[0], "message_id": where[1], "text": text})
                )
        except Exception:  # progress is a courtesy: never stop the broadcast for it, but try it again
            log.exception("could not show the progress of warning %s", warning_id)
            self._progress_shown.pop(warning_id, None)
            self._progress_failures[warning_id] += 1
            if self._progress_failures[warning_id] < PROGRESS_TRIES:
                self._touched.add(warning_id)
                return False
        else:
            self._progress_failures.pop(warning_id, None)
        return True
