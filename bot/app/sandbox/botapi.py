"""A Telegram Bot API stand-in over real HTTP (aiohttp): the server the tests, the benchmarks and the sandbox
(`python -m bot sandbox`) run the real bot against, with no token and no internet. Documented in docs/sandbox.md.

The bot reaches it through BOT_API_BASE, as it would reach Telegram or a local Bot API server. It keeps every chat's
messages (with edits applied), validates what Telegram validates (text length after entity parsing, HTML
well-formedness, callback_data ≤ 64 bytes), takes what people do as updates (`send_text`, `press`, `send_location`,
`share_live_location`, `send_photo`, `send_document`…) for getUpdates or a webhook, tells its listeners about every
change a chat shows (`listen`: the sandbox page's live view), and, for tests, fails on demand with 429, 403,
migrate_to_chat_id, "message is too long" and 5xx.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import itertools
import json
import logging
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
BOT_ID = 123456789
BOT_USERNAME = "kuaibao_test_bot"
STRING_FIELDS = {
    "text",
    "caption",
    "callback_query_id",
    "parse_mode",
    "url",
    "title",
    "description",
    "first_name",
    "last_name",
    "username",
    "language_code",
    "allowed_updates",
    "photo",
    "document",
    "video",
    "voice",
    "audio",
    "sticker",
    "inline_message_id",
    "emoji",
    "address",
}
ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
    "tg-emoji",
}


class EntityError(ValueError):
    pass


class _HTMLChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.plain: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in ALLOWED_TAGS:
            raise EntityError(f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"')
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise EntityError(f'Bad Request: can\'t parse entities: Unmatched end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.plain.append(data)


def parse_html(text: str) -> str:
    """Plain text of a Telegram-HTML message, raising like Telegram on malformed markup."""
    if re.search(r"<(?![a-zA-Z/])", text) or re.search(r"&(?!#?\w+;)", text):
        raise EntityError("Bad Request: can't parse entities: unescaped < or & in the text")
    checker = _HTMLChecker()
    checker.feed(text)
    checker.close()
    if checker.stack:
        raise EntityError("Bad Request: can't parse entities: unclosed tag")
    return "".join(checker.plain)


@dataclass
class Failure:
    kind: str  # "429" | "403" | "migrate" | "too_long" | "500"
    chat_id: int | None = None
    retry_after: int = 1
    migrate_to: int = 0
    text: str | None = None  # only a call whose text contains this


@dataclass
class Sent:
    """One call the bot made that shows something in a chat (send or edit)."""

    method: str
    chat_id: int
    message_id: int
    text: str  # plain text as the user sees it
    raw: str  # what the bot sent (HTML)
    reply_markup: dict[str, Any] | None
    params: dict[str, Any]
    at: float = field(default_factory=time.time)  # when it arrived (wall clock)

    def buttons(self) -> list[dict[str, Any]]:
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard") or self.reply_markup.get("keyboard") or []
        return [b for row in rows for b in row]

    def button(self, label: str) -> dict[str, Any]:
        for b in self.buttons():
            if isinstance(b, dict) and label in b.get("text", ""):
                return b
        raise AssertionError(f"no button {label!r} in {[b.get('text') for b in self.buttons()]}")


class FakeBotAPI:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self.messages: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)  # chat -> id -> message
        self.sent: list[Sent] = []
        self.by_chat: dict[int, list[Sent]] = defaultdict(list)
        self._chat_events: dict[int, asyncio.Event] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.commands: list[dict[str, Any]] = []
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.get_updates_calls = 0
        self.polls_interrupted = False
        self.holds: dict[str, asyncio.Event] = {}
        self.held = 0  # calls that waited at a hold
        # Telegram's limit for groups, enforced like Telegram does (429 with retry_after) when set:
        # (messages, seconds) in any window; an album counts each item.
        self.group_limit: tuple[int, float] | None = None
        self.chat_limit: tuple[int, float] | None = None  # the same for private chats (messages, seconds)
        self._group_log: dict[int, deque[float]] = defaultdict(deque)
        self.refused_for_rate: list[tuple[str, int]] = []
        self.failed_calls: list[tuple[str, Any, str]] = []  # injected failures answered: (method, chat, kind)
        # Telegram's overall limit for a bot, enforced the same way when set: (messages, seconds)
        self.overall_limit: tuple[int, float] | None = None
        self._overall_log: deque[float] = deque()
        self.refused_at: list[float] = []  # when a send was refused for a limit (overall, chat, group; wall clock)
        self.titles: dict[int, str] = {}  # group titles getChat answers with
        self.chat_admins: dict[int, set[int]] = defaultdict(set)  # group -> its administrators (getChatMember)
        self.files: dict[str, bytes] = {}  # file_id -> content, for getFile and the download
        self.broken_downloads: set[str] = set()  # file ids whose download fails (getFile still answers)
        self.uploads: list[tuple[str, str, bytes]] = []  # (field, file name, content) the bot uploaded
        self.timestamp: Callable[[], float] = time.time  # the messages' dates (the sandbox's clock can be moved)
        self.file_names: dict[str, str] = {}  # file_id -> the name it was uploaded or sent with
        # who is told of each change a chat shows: {"kind": "new"|"edit"|"delete"|"answer", ...} (the sandbox page)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        # webhook mode, as Telegram does it: setWebhook's URL gets each update POSTed with the secret; any non-2xx
        # answer or timeout is retried; one person's next update only after their previous one was accepted;
        # getUpdates answers 409 while a webhook is set. `webhook_targets`: where the POSTs really go (a load
        # balancer in front of several workers: round robin), else the URL itself.
        self.webhook: dict[str, Any] | None = None
        self.webhook_targets: list[str] = []
        self.webhook_posts: list[tuple[int, int | str]] = []  # (update id, HTTP status or the error's name)
        self.webhook_accepted: list[int] = []  # update ids answered 2xx, in the order they were
        self.webhook_seconds: list[float] = []  # each accepted POST's time from sending to the 2xx (benchmarks)
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_round = itertools.count()

    # ---- server -------------------------------------------------------------------------------
    def dump_state(self) -> dict[str, Any]:
        """What the chats hold, to start again where a run stopped (the sandbox keeps it beside its database)."""
        return {
            "update_id": next(self._update_ids),
            "message_ids": {str(c): next(n) for c, n in self._message_ids.items()},
            "messages": {str(c): list(ms.values()) for c, ms in self.messages.items()},
            "files": {f: base64.b64encode(b).decode() for f, b in self.files.items()},
            "file_names": self.file_names,
            "titles": {str(c): t for c, t in self.titles.items()},
            "chat_admins": {str(c): sorted(a) for c, a in self.chat_admins.items()},
        }

    def number_messages_from(self, first: Callable[[], int]) -> None:
        """A chat seen for the first time numbers its messages from first() (the sandbox: the time in seconds, so
        after a run whose counts were lost the bot's stored message ids never point at a newer message)."""
        self._message_ids.default_factory = lambda: itertools.count(first())

    def continue_after(self, update_id: int) -> None:
        """Number the next update after `update_id` at least (a bot remembers the ids it handled)."""
        current = next(self._update_ids)
        self._update_ids = itertools.count(max(current, update_id + 1))

    def load_state(self, state: dict[str, Any]) -> None:
        self._update_ids = itertools.count(int(state.get("update_id", 1)))
        for chat, start in state.get("message_ids", {}).items():
            self._message_ids[int(chat)] = itertools.count(int(start))
        for chat, ms in state.get("messages", {}).items():
            self.messages[int(chat)] = {int(m["message_id"]): m for m in ms}
        self.files.update({f: base64.b64decode(b) for f, b in state.get("files", {}).items()})
        self.file_names.update(state.get("file_names", {}))
        self.titles.update({int(c): t for c, t in state.get("titles", {}).items()})
        for chat, admins in state.get("chat_admins", {}).items():
            self.chat_admins[int(chat)] = set(admins)

    async def start(self, port: int = 0) -> str:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def interrupt_polls(self) -> None:
        """Answer pending long polls at once (lets a bot shut down without waiting out its timeout)."""
        self.polls_interrupted = True
        async with self._changed:
            self._changed.notify_all()

    async def stop(self) -> None:
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        raw = await request.post()
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if not isinstance(value, str):
                name, content = str(getattr(value, "filename", "file")), value.file.read()
                self.uploads.append((key, name, content))
                file_id = f"up{len(self.files) + 1}"  # kept like a file Telegram stores: getFile, the page shows it
                self.files[file_id], self.file_names[file_id] = content, name
                params[key] = file_id
            elif key in STRING_FIELDS:
                params[key] = value
            else:
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    params[key] = value
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        failure = self._take_failure(method, params) or self._over_group_limit(method, params)
        if failure is not None:
            return failure
        gate = self.holds.get(method)
        if gate is not None and not gate.is_set():
            self.held += 1
            async with self._changed:
                self._changed.notify_all()
            await gate.wait()
            if request.transport is None or request.transport.is_closing():
                return web.Response(status=499)  # the caller died while we held it: it never reached "Telegram"
        if method == "getUpdates" and self.webhook is not None:
            return self._error(409, "Conflict: can't use getUpdates method while webhook is active")
        handler = getattr(self, f"m_{method}", None)
        if handler is None:
            return self._error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except EntityError as exc:
            return self._error(400, str(exc))
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=code if code >= 500 else 200 if code == 0 else code)

    def _over_group_limit(self, method: str, params: dict[str, Any]) -> web.Response | None:
        chat = params.get("chat_id")
        if not method.startswith("send") or not isinstance(chat, int):
            return None
        if self.overall_limit is not None:
            limit, period = self.overall_limit
            now = time.monotonic()
            while self._overall_log and self._overall_log[0] <= now - period:
                self._overall_log.popleft()
            if len(self._overall_log) >= limit:
                self.refused_at.append(time.time())
                return self._error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            self._overall_log.append(now)
        limits = self.group_limit if chat < 0 else self.chat_limit
        if limits is None:
            return None
        limit, period = limits
        cost = len(params.get("media") or []) or 1
        now = time.monotonic()
        log = self._group_log[chat]
        while log and log[0] <= now - period:
            log.popleft()
        if len(log) + cost > limit:
            self.refused_for_rate.append((method, chat))
            self.refused_at.append(time.time())
            wait = max(1, int(log[len(log) + cost - limit - 1] + period - now + 0.999))
            return self._error(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        log.extend([now] * cost)
        return None

    def _take_failure(self, method: str, params: dict[str, Any]) -> web.Response | None:
        queue = self.failures.get(method)
        if not queue:
            return None
        # the first failure meant for this chat (or for any chat): several chats may each have their own
        failure = next(
            (
                f
                for f in queue
                if f.chat_id in (None, params.get("chat_id"))
                and (f.text is None or f.text in str(params.get("text", "")))
            ),
            None,
        )
        if failure is None:
            return None
        queue.remove(failure)
        self.failed_calls.append((method, params.get("chat_id"), failure.kind))
        if failure.kind == "429":
            return self._error(
                429, f"Too Many Requests: retry after {failure.retry_after}", {"retry_after": failure.retry_after}
            )
        if failure.kind == "403":
            return self._error(403, "Forbidden: bot was blocked by the user")
        if failure.kind == "migrate":
            return self._error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": failure.migrate_to},
            )
        if failure.kind == "too_long":
            return self._error(400, "Bad Request: message is too long")
        return self._error(500, "Internal Server Error")

    def _add(self, sent: Sent) -> None:
        self.sent.append(sent)
        self.by_chat[sent.chat_id].append(sent)
        event = self._chat_events.get(sent.chat_id)
        if event is not None:
            event.set()

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call `listener` with every change a chat shows, as it happens (a new message, by the bot or a person; an
        edit; a deletion; a callback query's answer). Listeners must not block."""
        self.listeners.append(listener)

    def _emit(self, event: dict[str, Any]) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug never breaks the bot's call
                logging.getLogger(__name__).exception("a Bot API listener failed")

    async def wait_chat(self, chat_id: int, predicate: Any, timeout: float = 30.0) -> Any:
        """Wait for predicate() after something new in one chat (cheap with thousands of chats)."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            event = self._chat_events.setdefault(chat_id, asyncio.Event())
            event.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for the bot in chat {chat_id}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def hold(self, method: str) -> asyncio.Event:
        """Keep every call of `method` waiting (a slow Telegram) until the returned event is set."""
        self.holds[method] = asyncio.Event()
        return self.holds[method]

    def fail_next(self, method: str, kind: str, count: int = 1, **kwargs: Any) -> None:
        """Make the next `count` calls of `method` fail (optionally only for one chat_id)."""
        for _ in range(count):
            self.failures[method].append(Failure(kind, **kwargs))

    # ---- objects ------------------------------------------------------------------------------
    @staticmethod
    def chat(chat_id: int, title: str | None = None) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": title or f"Group {chat_id}"}

    @staticmethod
    def user(user_id: int, name: str | None = None, language_code: str | None = "zh-hans") -> dict[str, Any]:
        u: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": name or f"User{user_id}"}
        if language_code is not None:
            u["language_code"] = language_code
        return u

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Kuaibao",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _new_message(self, chat_id: int, extra: dict[str, Any]) -> dict[str, Any]:
        msg = {
            "message_id": next(self._message_ids[chat_id]),
            "date": int(self.timestamp()),
            "chat": self.chat(chat_id),
            "from": self.bot_user(),
            **extra,
        }
        self.messages[chat_id][msg["message_id"]] = msg
        return msg

    async def _record(self, method: str, msg: dict[str, Any], raw: str, params: dict[str, Any]) -> None:
        if self.listeners:
            kind = "edit" if method.startswith("edit") else "new"
            event_msg = copy.deepcopy(msg)
            if kind == "new" and params.get("reply_markup"):  # a reply keyboard (or its removal) travels with it
                event_msg["reply_markup"] = params["reply_markup"]
            self._emit({"kind": kind, "message": event_msg})
        self._add(
            Sent(
                method,
                msg["chat"]["id"],
                msg["message_id"],
                msg.get("text") or msg.get("caption") or "",
                raw,
                msg.get("reply_markup"),
                params,
            )
        )
        async with self._changed:
            self._changed.notify_all()

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        if not markup:
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise EntityError("Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise EntityError("Bad Request: text buttons are unallowed in the inline keyboard")
        return dict(markup)

    def _text(self, params: dict[str, Any], key: str = "text", limit: int = 4096) -> tuple[str, str]:
        raw = str(params.get(key, ""))
        plain = parse_html(raw) if params.get("parse_mode") == "HTML" else raw
        if key == "text" and not plain.strip():
            raise EntityError("Bad Request: message text is empty")
        if len(plain) > limit:
            raise EntityError("Bad Request: message is too long")
        return raw, plain

    # ---- Bot API methods ----------------------------------------------------------------------
    async def m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user()

    async def m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None
        return True

    async def m_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = dict(params)
        if self._webhook_task is None:
            self._webhook_task = asyncio.create_task(self._deliver_webhook())
        async with self._changed:
            self._changed.notify_all()
        return True

    async def m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        hook = self.webhook or {}
        return {"url": hook.get("url", ""), "has_custom_certificate": False, "pending_update_count": len(self.updates)}

    def _sender(self, update: dict[str, Any]) -> Any:
        for key, event in update.items():
            if key != "update_id" and isinstance(event, dict):
                return (event.get("from") or {}).get("id", key)
        return None

    async def _deliver_webhook(self) -> None:
        """Post pending updates in order, several people at once (up to max_connections), one person at a time."""
        import aiohttp

        busy: set[Any] = set()
        in_flight: set[int] = set()
        posting: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession() as http:

            async def post(update: dict[str, Any]) -> None:
                hook = self.webhook or {}
                targets = self.webhook_targets or [str(hook.get("url"))]
                url = targets[next(self._webhook_round) % len(targets)]
                headers = {"X-Telegram-Bot-Api-Secret-Token": str(hook.get("secret_token", ""))}
                status: int | str
                began = time.perf_counter()
                try:
                    async with http.post(url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(10)) as r:
                        status = r.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status = type(exc).__name__
                self.webhook_posts.append((update["update_id"], status))
                if isinstance(status, int) and 200 <= status < 300:
                    self.webhook_seconds.append(time.perf_counter() - began)
                    self.updates = [u for u in self.updates if u["update_id"] != update["update_id"]]
                    self.webhook_accepted.append(update["update_id"])
                else:
                    await asyncio.sleep(0.2)  # Telegram retries later
                busy.discard(self._sender(update))
                in_flight.discard(update["update_id"])
                async with self._changed:
                    self._changed.notify_all()

            while self.webhook is not None:
                limit = int((self.webhook or {}).get("max_connections") or 40)
                for update in list(self.updates):
                    sender = self._sender(update)
                    if len(in_flight) >= limit:
                        break
                    if update["update_id"] in in_flight or sender in busy:
                        continue
                    busy.add(sender)
                    in_flight.add(update["update_id"])
                    task = asyncio.create_task(post(update))
                    posting.add(task)
                    task.add_done_callback(posting.discard)
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.5)

    async def m_setMyCommands(self, params: dict[str, Any]) -> bool:
        self.commands.append(params)
        return True

    async def m_close(self, params: dict[str, Any]) -> bool:
        return True

    async def m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.get_updates_calls += 1
        async with self._changed:
            self._changed.notify_all()
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        if offset:
            before = len(self.updates)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            if len(self.updates) != before:
                async with self._changed:
                    self._changed.notify_all()
        deadline = time.monotonic() + min(timeout, 2.0)
        async with self._changed:
            while not self.updates and not self.polls_interrupted and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
                except TimeoutError:
                    break
        return self.updates[:limit]

    async def m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        raw, plain = self._text(params)
        extra: dict[str, Any] = {"text": plain}
        markup = self._check_markup(params.get("reply_markup"))
        if markup and "inline_keyboard" in markup:
            extra["reply_markup"] = markup
        msg = self._new_message(int(params["chat_id"]), extra)
        await self._record("sendMessage", dict(msg, reply_markup=markup), raw, params)
        return msg

    def _existing(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = self.messages.get(int(params["chat_id"]), {}).get(int(params["message_id"]))
        if msg is None:
            raise EntityError("Bad Request: message to edit not found")
        return msg

    async def m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = self._existing(params)
        raw, plain = self._text(params)
        markup = self._check_markup(params.get("reply_markup"))
        if plain == msg.get("text") and markup == msg.get("reply_markup"):
            raise EntityError("Bad Request: message is not modified")
        msg["text"] = plain
        msg.pop("reply_markup", None)
        if markup:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(self.timestamp())
        await self._record("editMessageText", msg, raw, params)
        return msg

    async def m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = self._existing(params)
        markup = self._check_markup(params.get("reply_markup"))
        msg.pop("reply_markup", None)
        if markup:
            msg["reply_markup"] = markup
        await self._record("editMessageReplyMarkup", msg, msg.get("text", ""), params)
        return msg

    async def m_deleteMessage(self, params: dict[str, Any]) -> bool:
        self._existing(params)
        del self.messages[int(params["chat_id"])][int(params["message_id"])]
        self._emit({"kind": "delete", "chat_id": int(params["chat_id"]), "message_id": int(params["message_id"])})
        return True

    async def m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        self.callback_answers[str(params["callback_query_id"])] = params
        self._emit({"kind": "answer", **params})
        async with self._changed:
            self._changed.notify_all()
        return True

    async def _media(self, method: str, params: dict[str, Any], kind: str, value: Any) -> dict[str, Any]:
        raw, plain = self._text(params, "caption", 1024) if params.get("caption") else ("", "")
        extra: dict[str, Any] = {kind: value}
        if plain:
            extra["caption"] = plain
        msg = self._new_message(int(params["chat_id"]), extra)
        await self._record(method, msg, raw, params)
        return msg

    async def m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = params["photo"]
        return await self._media(
            "sendPhoto",
            params,
            "photo",
            [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 90, "height": 90}],
        )

    async def m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = params["document"]
        value = {"file_id": doc, "file_unique_id": f"u{doc}"}
        if doc in self.file_names:
            value["file_name"] = self.file_names[doc]
        return await self._media("sendDocument", params, "document", value)

    async def m_sendVideo(self, params: dict[str, Any]) -> dict[str, Any]:
        v = params["video"]
        return await self._media(
            "sendVideo",
            params,
            "video",
            {"file_id": v, "file_unique_id": f"u{v}", "width": 1, "height": 1, "duration": 1},
        )

    async def m_sendVoice(self, params: dict[str, Any]) -> dict[str, Any]:
        v = params["voice"]
        return await self._media("sendVoice", params, "voice", {"file_id": v, "file_unique_id": f"u{v}", "duration": 1})

    async def m_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id"))
        if file_id not in self.files:
            raise EntityError("Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(self.files[file_id]),
            "file_path": f"documents/{file_id}",
        }

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        if file_id not in self.files or file_id in self.broken_downloads:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id])

    async def send_document(
        self,
        user_id: int,
        file_name: str,
        content: bytes,
        mime: str = "text/xml",
        caption: str | None = None,
        chat_id: int | None = None,
        **user_kw: Any,
    ) -> dict[str, Any]:
        """A person sends a file (kept for getFile and the download), with a caption (a command: its entity)."""
        file_id = f"doc{len(self.files) + 1}"
        self.files[file_id], self.file_names[file_id] = content, file_name
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": file_name,
            "mime_type": mime,
            "file_size": len(content),
        }
        extra: dict[str, Any] = {"document": document}
        if caption:
            extra["caption"] = caption
            if caption.startswith("/"):
                extra["caption_entities"] = [{"type": "bot_command", "offset": 0, "length": len(caption.split()[0])}]
        return await self.send_extra(user_id, extra, chat_id, **user_kw)

    async def m_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = "administrator" if user_id in self.chat_admins[chat_id] else "member"
        member: dict[str, Any] = {"status": status, "user": self.user(user_id)}
        if status == "administrator":
            member.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
                can_send_welcome_messages=False,
            )
        return member

    async def m_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        return {
            **self.chat(chat_id, self.titles.get(chat_id)),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def m_sendMediaGroup(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        media = params["media"]
        if not 2 <= len(media) <= 10:
            raise EntityError("Bad Request: wrong number of media in the album")
        group_id = f"mg{next(self._update_ids)}"
        sent = []
        for item in media:
            kind = item["type"]
            value: Any = {"file_id": item["media"], "file_unique_id": f"u{item['media']}"}
            if kind == "photo":
                value = [{**value, "width": 90, "height": 90}]
            elif kind == "video":
                value = {**value, "width": 1, "height": 1, "duration": 1}
            elif kind == "audio":
                value = {**value, "duration": 1}
            raw, plain = self._text(item, "caption", 1024) if item.get("caption") else ("", "")
            extra: dict[str, Any] = {kind: value, "media_group_id": group_id}
            if plain:
                extra["caption"] = plain
            msg = self._new_message(int(params["chat_id"]), extra)
            await self._record("sendMediaGroup", msg, raw, params)
            sent.append(msg)
        return sent

    async def m_sendLocation(self, params: dict[str, Any]) -> dict[str, Any]:
        loc = {"latitude": float(params["latitude"]), "longitude": float(params["longitude"])}
        msg = self._new_message(int(params["chat_id"]), {"location": loc})
        await self._record("sendLocation", msg, f"{loc['latitude']},{loc['longitude']}", params)
        return msg

    # ---- injecting what users do ----------------------------------------------------------------
    async def push(self, update: dict[str, Any]) -> dict[str, Any]:
        update["update_id"] = next(self._update_ids)
        self.updates.append(update)
        if self.listeners and ("message" in update or "edited_message" in update):
            kind = "new" if "message" in update else "edit"
            self._emit({"kind": kind, "message": copy.deepcopy(update.get("message") or update["edited_message"])})
        async with self._changed:
            self._changed.notify_all()
        return update

    def _user_message(self, user_id: int, chat_id: int | None, extra: dict[str, Any], **user_kw: Any) -> dict[str, Any]:
        chat_id = chat_id if chat_id is not None else user_id
        return {
            "message_id": next(self._message_ids[chat_id]),
            "date": int(self.timestamp()),
            "chat": self.chat(chat_id),
            "from": self.user(user_id, **user_kw),
            **extra,
        }

    async def send_text(self, user_id: int, text: str, chat_id: int | None = None, **user_kw: Any) -> dict[str, Any]:
        extra: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return await self.push({"message": self._user_message(user_id, chat_id, extra, **user_kw)})

    async def send_extra(
        self, user_id: int, extra: dict[str, Any], chat_id: int | None = None, **user_kw: Any
    ) -> dict[str, Any]:
        return await self.push({"message": self._user_message(user_id, chat_id, extra, **user_kw)})

    async def send_location(
        self, user_id: int, lat: float, lon: float, chat_id: int | None = None, **user_kw: Any
    ) -> dict[str, Any]:
        return await self.send_extra(user_id, {"location": {"latitude": lat, "longitude": lon}}, chat_id, **user_kw)

    async def share_live_location(
        self, user_id: int, lat: float, lon: float, period: int = 900, chat_id: int | None = None, **user_kw: Any
    ) -> dict[str, Any]:
        """A live location: its first message; `move_live_location` then edits it as Telegram does."""
        location = {"latitude": lat, "longitude": lon, "live_period": period}
        return await self.send_extra(user_id, {"location": location}, chat_id, **user_kw)

    async def move_live_location(self, user_id: int, first: dict[str, Any], lat: float, lon: float) -> dict[str, Any]:
        """The live location moved: an edited_message of the first one, with the new place."""
        message = dict(first["message"])
        message["location"] = dict(message["location"], latitude=lat, longitude=lon)
        message["edit_date"] = int(self.timestamp())
        return await self.push({"edited_message": message})

    async def send_photo(
        self,
        user_id: int,
        file_id: str,
        caption: str | None = None,
        content: bytes | None = None,
        chat_id: int | None = None,
        **user_kw: Any,
    ) -> dict[str, Any]:
        """A person sends a photo (`content`: its bytes, kept for getFile and the page; else a file id only)."""
        if content is not None:
            self.files[file_id] = content
        photo = [{"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 1280, "height": 960}]
        extra: dict[str, Any] = {"photo": photo}
        if caption:
            extra["caption"] = caption
        return await self.send_extra(user_id, extra, chat_id, **user_kw)

    async def send_sticker(self, user_id: int) -> dict[str, Any]:
        sticker = {
            "file_id": "stk",
            "file_unique_id": "ustk",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return await self.send_extra(user_id, {"sticker": sticker})

    def bot_message(self, chat_id: int, text: str, *data: str) -> Sent:
        """A message of the bot's in a chat carrying buttons with this data, as if the bot had sent it (a button that
        was the person's to press once: their rights changed since, or it is another unit's)."""
        keyboard = {"inline_keyboard": [[{"text": f"b{i}", "callback_data": d}] for i, d in enumerate(data)]}
        msg = self._new_message(chat_id, {"text": text, "reply_markup": keyboard})
        return Sent("sendMessage", chat_id, msg["message_id"], text, text, keyboard, {})

    def snapshot(self, sent: Sent) -> dict[str, Any]:
        """The message as Telegram holds it now (with its keyboard): what a callback query sent later may still
        carry (an update Telegram delivers again, a client that has not seen an edit yet)."""
        return copy.deepcopy(self.messages[sent.chat_id][sent.message_id])

    async def press(
        self, user_id: int, sent: Sent, data: str, message: dict[str, Any] | None = None, **user_kw: Any
    ) -> str:
        """Press an inline button of a message the bot sent; returns the callback query id. The query carries the
        message as Telegram holds it now (`message`: as it was at a snapshot), as Telegram's do."""
        message = (
            message
            or self.messages[sent.chat_id].get(sent.message_id)
            or {
                "message_id": sent.message_id,
                "date": int(self.timestamp()),
                "chat": self.chat(sent.chat_id),
                "text": "x",
            }
        )
        query_id = f"cq{next(self._update_ids)}"
        await self.push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user(user_id, **user_kw),
                    "message": message,
                    "chat_instance": str(sent.chat_id),
                    "data": data,
                }
            }
        )
        return query_id

    # ---- reading what the bot did ------------------------------------------------------------
    def in_chat(self, chat_id: int) -> list[Sent]:
        return list(self.by_chat.get(chat_id, ()))

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> Any:
        """Wait until predicate() returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out waiting for the bot")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def next_in(self, chat_id: int, after: int, timeout: float = 10.0) -> Sent:
        """The first thing shown in chat_id after the first `after` entries of self.sent for it."""
        return await self.wait_for(
            lambda: (lambda s: s[after] if len(s) > after else None)(self.in_chat(chat_id)), timeout
        )

    async def settle(self, chat_id: int, before: int, quiet: float = 0.15, timeout: float = 10.0) -> list[Sent]:
        """Wait for at least one new thing in chat_id after `before` entries, then for quiet; return the new ones."""
        await self.wait_for(lambda: len(self.in_chat(chat_id)) > before, timeout)
        count = -1
        while count != len(self.in_chat(chat_id)):
            count = len(self.in_chat(chat_id))
            await asyncio.sleep(quiet)
        return self.in_chat(chat_id)[before:]

    def screen(self, chat_id: int) -> Sent:
        """The newest message in the chat that carries buttons as it looks now (an edit of an older message,
        such as a receipt redrawn when its alerts are delivered, does not make it the newest)."""
        now: dict[int, Sent] = {}
        for sent in self.in_chat(chat_id):
            now[sent.message_id] = sent
        for message_id in sorted(now, reverse=True):
            if now[message_id].reply_markup:
                return now[message_id]
        raise AssertionError(f"no message with buttons in chat {chat_id}")

    async def answer_to(self, query_id: str, timeout: float = 10.0) -> dict[str, Any]:
        return await self.wait_for(lambda: self.callback_answers.get(query_id), timeout)

    async def drained(self, timeout: float = 10.0) -> None:
        """Wait until the bot has fetched every injected update."""
        await self.wait_for(lambda: not self.updates or None, timeout)
