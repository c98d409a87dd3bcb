"""The sandbox's page (http://127.0.0.1:SANDBOX_PORT): plain HTML/CSS/JS from ./static, a JSON API for what a person
does in a chat (it becomes an update at the Bot API stand-in, exactly as Telegram would deliver it) and a stream of
server-sent events with every change a chat shows (new messages, edits, deletions, callback answers, the clock).

Only for 127.0.0.1: it acts as anyone, by design (a trainer plays every role)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app.sandbox.botapi import FakeBotAPI
from bot.app.sandbox.clock import MovableClock
from bot.domain.clock import format_local
from bot.domain.text import N_
from bot.telegram.i18n import Catalogs
from bot.usecases.onboarding import UserRow, list_groups, list_users
from conversations.formatting import join
from storage.uow import unit_of_work

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
TEXT_MAX = 4096  # what Telegram takes in one message
UPLOAD_MAX = 20 * 1024 * 1024  # the largest file a bot may download from Telegram
ANSWER_WAIT = 5.0  # seconds a button press waits for the bot's answer (its popup)
STEPS = {"10m": timedelta(minutes=10), "1h": timedelta(hours=1)}
ROLE_ORDER = ("reporter", "duty_officer", "duty_leader", "publisher", "admin", "liaison")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
QUEUE_MAX = 1000  # events a slow page may fall behind before it is dropped (it reconnects and reloads)


def page_locale(lang: str | None) -> str:
    """The page's language from the browser's (navigator.language): English for en-*, else Chinese."""
    return "en" if (lang or "").lower().startswith("en") else "zh_Hans"


def language_code(locale: str) -> str:
    return "en" if locale == "en" else "zh-hans"


@dataclass
class ChatLog:
    """What each chat shows, kept from the Bot API's events: messages in order (edits applied, deletions removed),
    each chat's reply keyboard; the pages listening are sent every change."""

    chats: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    keyboards: dict[int, dict[str, Any]] = field(default_factory=dict)
    pages: set[asyncio.Queue[str]] = field(default_factory=set)
    changes: int = 0  # how many changes it saw (the sandbox keeps the chats when this moves)

    def on_event(self, event: dict[str, Any]) -> None:
        self.changes += 1
        kind = event["kind"]
        if kind in ("new", "edit"):
            message = dict(event["message"])
            chat = int(message["chat"]["id"])
            markup = message.get("reply_markup") or {}
            if "keyboard" in markup or "remove_keyboard" in markup:
                message.pop("reply_markup")
                if "keyboard" in markup:
                    self.keyboards[chat] = markup
                else:
                    self.keyboards.pop(chat, None)
                event = {**event, "keyboard": self.keyboards.get(chat)}
            elif kind == "new" and not message.get("from", {}).get("is_bot"):
                shown = self.keyboards.get(chat)
                if shown and shown.get("one_time_keyboard"):  # used once: hidden, as Telegram's apps do
                    del self.keyboards[chat]
                    event = {**event, "keyboard": None}
            self.chats.setdefault(chat, {})[int(message["message_id"])] = message
            event = {**event, "message": message}
        elif kind == "delete":
            self.chats.get(int(event["chat_id"]), {}).pop(int(event["message_id"]), None)
        self.publish(event)

    def publish(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, ensure_ascii=False)
        for queue in list(self.pages):
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:  # a page that stopped reading: it reloads when it reconnects
                self.pages.discard(queue)

    def dump(self) -> dict[str, Any]:
        return {
            "chats": {str(c): list(m.values()) for c, m in self.chats.items()},
            "keyboards": {str(c): k for c, k in self.keyboards.items()},
        }

    def load(self, data: dict[str, Any]) -> None:
        self.chats = {int(c): {int(m["message_id"]): m for m in ms} for c, ms in data.get("chats", {}).items()}
        self.keyboards = {int(c): dict(k) for c, k in data.get("keyboards", {}).items()}


class Refusal(Exception):
    """A bad request from the page: its answer (a catalog id and its parameters)."""

    def __init__(self, text_id: str, **params: Any) -> None:
        super().__init__(text_id)
        self.text_id, self.params = text_id, params


class SandboxPage:
    def __init__(
        self,
        api: FakeBotAPI,
        clock: MovableClock,
        catalogs: Catalogs,
        sessionmaker: Any,
        tz: Any,
        next_due: Callable[[], Awaitable[datetime | None]],
        strangers: dict[int, str],
    ) -> None:
        self.api, self.clock, self.catalogs, self.sessionmaker, self.tz = api, clock, catalogs, sessionmaker, tz
        self.next_due = next_due
        self.log = ChatLog()
        self.strangers = strangers  # people the page added who are not registered (yet): telegram id -> name
        self.names: dict[int, str] = {}
        self.opened = asyncio.Event()  # a page is watching (a drill waits for it)
        self.map: dict[str, Any] = {}  # the office's offline map (seed.Office.map)
        api.listen(self.log.on_event)
        clock.listeners.append(lambda now: self.log.publish({"kind": "clock", **self.clock_view()}))

    # ---- the application ------------------------------------------------------------------------
    def application(self) -> web.Application:
        app = web.Application(client_max_size=UPLOAD_MAX + 64 * 1024, middlewares=[self._local_only, self._refusals])
        app.router.add_get("/", self.index)
        app.router.add_static("/static/", STATIC, show_index=False)
        app.router.add_get("/api/state", self.state)
        app.router.add_get("/api/events", self.events)
        app.router.add_post("/api/act", self.act)
        app.router.add_post("/api/upload", self.upload)
        app.router.add_get("/api/file/{file_id}", self.file)
        return app

    @web.middleware
    async def _local_only(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Only this machine's pages: a request naming another host (DNS rebinding) or sent by another site's page
        (a form posted across origins) is refused before it acts as anyone."""
        host = (request.host or "").rsplit(":", 1)[0].strip("[]")
        origin = request.headers.get("Origin")
        if host not in LOCAL_HOSTS or (origin is not None and origin != f"{request.scheme}://{request.host}"):
            return web.Response(status=403, text="the sandbox answers pages of 127.0.0.1 only")
        return await handler(request)  # type: ignore[no-any-return]

    @web.middleware
    async def _refusals(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except Refusal as exc:
            _ = self.catalogs.translator(page_locale(request.query.get("lang")))
            return web.json_response({"ok": False, "error": _(exc.text_id, **exc.params)}, status=400)
        except web.HTTPRequestEntityTooLarge:
            _ = self.catalogs.translator(page_locale(request.query.get("lang")))
            return web.json_response({"ok": False, "error": _("sandbox.error.too_large")}, status=413)

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    # ---- what the page shows --------------------------------------------------------------------
    def clock_view(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "now": now.isoformat(),
            "local": format_local(now, self.tz),
            "offset": self.clock.offset.total_seconds(),
        }

    async def personas(self, locale: str) -> list[dict[str, Any]]:
        _ = self.catalogs.translator(locale)
        async with unit_of_work(self.sessionmaker) as repos:
            users = await list_users(repos, None)
            groups = await list_groups(repos)
            unit_names = {u.code: u.name for u in await repos.units.all()}
        people = []
        for u in users:  # the office's administrators administer the sandbox's groups (so /bindgroup works there)
            if "admin" in u.roles and u.active:
                for chat_id in self.api.titles:
                    self.api.chat_admins[chat_id].add(u.telegram_id)
        for u in sorted(users, key=_rank):
            roles = join([_(f"role.{r}") for r in sorted(u.roles, key=_role_rank)], _)
            self.names[u.telegram_id] = u.name
            people.append(
                {
                    "kind": "person",
                    "id": u.telegram_id,
                    "name": u.name,
                    "detail": f"{roles} · {unit_names.get(u.unit_code, u.unit_code)}",
                    "active": u.active,
                }
            )
        registered = {u.telegram_id for u in users}
        for tid, name in self.strangers.items():
            if tid not in registered:  # (once registered, listed with their roles above)
                self.names[tid] = name
                people.append(
                    {"kind": "person", "id": tid, "name": name, "detail": _("sandbox.unregistered"), "active": True}
                )
        panes = [
            {"kind": "group", "id": g.chat_id, "name": g.title or g.unit_name, "detail": g.unit_name} for g in groups
        ]
        known = {g.chat_id for g in groups}
        panes += [
            {"kind": "group", "id": c, "name": self.api.titles.get(c, str(c)), "detail": ""}
            for c in sorted(self.api.titles)
            if c not in known
        ]
        return people + panes

    def commands(self, locale: str) -> list[dict[str, str]]:
        wanted = language_code(locale)[:2]
        chosen: list[dict[str, str]] = []
        for call in self.api.commands:  # the newest per language wins; the default (no language) otherwise
            code = call.get("language_code")
            if (code is None and not chosen) or code == wanted:
                chosen = list(call.get("commands") or [])
        return chosen

    async def state(self, request: web.Request) -> web.Response:
        locale = page_locale(request.query.get("lang"))
        _ = self.catalogs.translator(locale)
        strings = {key: _(msgid) for key, msgid in PAGE_STRINGS.items()}
        return web.json_response(
            {
                "locale": locale,
                "strings": strings,
                "personas": await self.personas(locale),
                "bot": self.api.bot_user(),
                "commands": self.commands(locale),
                "clock": self.clock_view(),
                "timezone": getattr(self.tz, "key", None),  # the office's: the times the page shows
                "map": self.map,
                **self.log.dump(),
            },
            dumps=lambda o: json.dumps(o, ensure_ascii=False),
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_MAX)
        self.log.pages.add(queue)
        self.opened.set()
        try:
            await response.write(b": hello\n\n")
            while queue in self.log.pages:
                try:
                    data = await asyncio.wait_for(queue.get(), timeout=15.0)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                await response.write(f"data: {data}\n\n".encode())
        except ConnectionResetError:
            log.debug("a page went away")
        finally:
            self.log.pages.discard(queue)
        return response

    # ---- what a person does ---------------------------------------------------------------------
    async def _person(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            who = int(body["as"])
        except (KeyError, TypeError, ValueError):
            raise Refusal(N_("sandbox.error.no_person")) from None
        if who not in self.names:
            await self.personas(self.catalogs.default_locale)  # registered since (an invite, the CLI)
        if who not in self.names:
            raise Refusal(N_("sandbox.error.no_person"))
        locale = page_locale(str(body.get("lang") or ""))
        return who, {"name": self.names[who], "language_code": language_code(locale)}

    @staticmethod
    def _chat(body: dict[str, Any], who: int) -> int:
        try:
            chat = int(body.get("chat") or who)
        except (TypeError, ValueError):
            raise Refusal(N_("sandbox.error.bad_request")) from None
        if chat > 0 and chat != who:  # a private chat is the person's own with the bot
            raise Refusal(N_("sandbox.error.bad_request"))
        return chat

    @staticmethod
    def _number(body: dict[str, Any], key: str, low: float, high: float) -> float:
        try:
            value = float(body[key])
        except (KeyError, TypeError, ValueError):
            raise Refusal(N_("sandbox.error.bad_request")) from None
        if not low <= value <= high:
            raise Refusal(N_("sandbox.error.bad_request"))
        return value

    async def act(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise Refusal(N_("sandbox.error.bad_request")) from None
        if not isinstance(body, dict):
            raise Refusal(N_("sandbox.error.bad_request"))
        action = body.get("action")
        if action == "clock":
            return web.json_response({"ok": True, "clock": await self.move_clock(str(body.get("step")))})
        if action == "person":
            name = str(body.get("name") or "").strip()[:64]
            if not name:
                raise Refusal(N_("sandbox.error.bad_request"))
            tid = 90_000 + len(self.strangers) + 1
            while tid in self.names:
                tid += 1
            self.strangers[tid] = name
            self.names[tid] = name
            return web.json_response({"ok": True, "id": tid})
        if action not in ("text", "press", "location", "live", "move"):
            raise Refusal(N_("sandbox.error.bad_request"))
        who, user = await self._person(body)
        chat = self._chat(body, who)
        if action == "text":
            text = str(body.get("text") or "")
            if not text.strip():
                raise Refusal(N_("sandbox.error.empty"))
            if len(text) > TEXT_MAX:
                raise Refusal(N_("sandbox.error.too_long"), limit=TEXT_MAX)
            await self.api.send_text(who, text, chat_id=chat, **user)
            return web.json_response({"ok": True})
        if action == "press":
            message = self.api.messages.get(chat, {}).get(int(body.get("message_id") or 0))
            data = str(body.get("data") or "")
            if message is None or not data:
                raise Refusal(N_("sandbox.error.gone"))
            query = f"cq{secrets.token_hex(6)}"
            await self.api.push(
                {
                    "callback_query": {
                        "id": query,
                        "from": self.api.user(who, **user),
                        "message": message,
                        "chat_instance": str(chat),
                        "data": data,
                    }
                }
            )
            answer: dict[str, Any] = {}
            with contextlib.suppress(AssertionError):
                answer = await self.api.answer_to(query, ANSWER_WAIT)
            return web.json_response(
                {"ok": True, "text": answer.get("text") or "", "alert": bool(answer.get("show_alert"))}
            )
        if action in ("location", "live"):
            lat = self._number(body, "lat", -90, 90)
            lon = self._number(body, "lon", -180, 180)
            if action == "live":
                sent = await self.api.share_live_location(who, lat, lon, chat_id=chat, **user)
            else:
                sent = await self.api.send_location(who, lat, lon, chat_id=chat, **user)
            return web.json_response({"ok": True, "message_id": sent["message"]["message_id"]})
        if action == "move":
            lat = self._number(body, "lat", -90, 90)
            lon = self._number(body, "lon", -180, 180)
            first = self.log.chats.get(chat, {}).get(int(body.get("message_id") or 0))
            if first is None or "location" not in first or first.get("from", {}).get("id") != who:
                raise Refusal(N_("sandbox.error.gone"))
            period = first["location"].get("live_period") or 0
            if first.get("date", 0) + period < self.clock.timestamp():  # not live (any more): Telegram refuses it too
                raise Refusal(N_("sandbox.error.gone"))
            await self.api.move_live_location(who, {"message": first}, lat, lon)
            return web.json_response({"ok": True})
        raise Refusal(N_("sandbox.error.bad_request"))

    async def move_clock(self, step: str) -> dict[str, Any]:
        if step == "next":
            due = await self.next_due()
            if due is None:
                raise Refusal(N_("sandbox.error.nothing_due"))
            self.clock.advance_to(due + timedelta(seconds=1))
        elif step in STEPS:
            self.clock.advance(STEPS[step])
        else:
            raise Refusal(N_("sandbox.error.bad_request"))
        return self.clock_view()

    async def upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Refusal(N_("sandbox.error.bad_request"))
        body = {k: v for k, v in form.items() if isinstance(v, str)}
        who, user = await self._person(body)
        chat = self._chat(body, who)
        content = upload.file.read()
        if len(content) > UPLOAD_MAX:
            raise Refusal(N_("sandbox.error.too_large"))
        name = Path(str(upload.filename or "file")).name[:128] or "file"
        caption = str(body.get("caption") or "")[:1024] or None
        mime = str(upload.content_type or "application/octet-stream")
        if body.get("kind") == "photo" and mime.startswith("image/"):
            file_id = f"ph{len(self.api.files) + 1}"
            self.api.file_names[file_id] = name
            await self.api.send_photo(who, file_id, caption, content, chat_id=chat, **user)
        else:
            await self.api.send_document(who, name, content, mime, caption, chat_id=chat, **user)
        return web.json_response({"ok": True})

    async def file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        content = self.api.files.get(file_id)
        if content is None:
            raise web.HTTPNotFound()
        name = self.api.file_names.get(file_id, file_id)
        kind = _guess(name)
        if file_id.startswith("ph") and kind not in IMAGES:  # a photo sent without a picture's name
            kind = "image/jpeg"
        # pictures are shown; anything else (HTML included) is only ever downloaded, never run by the page's origin
        shown = "inline" if kind in IMAGES else "attachment"
        headers = {
            "Content-Disposition": f"{shown}; filename*=UTF-8''{_quote(name)}",
            "X-Content-Type-Options": "nosniff",
        }
        return web.Response(
            body=content, content_type=kind if kind in IMAGES else "application/octet-stream", headers=headers
        )


def _role_rank(role: str) -> int:
    return ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)


def _rank(u: UserRow) -> tuple[int, int]:
    """People listed by their first role in ROLE_ORDER (reporters first), then by id."""
    return min((_role_rank(r) for r in u.roles), default=len(ROLE_ORDER)), u.telegram_id


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


def _guess(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"


# the page's own words, from the catalogs, sent to the page in its language
PAGE_STRINGS = {
    "title": N_("sandbox.title"),
    "people": N_("sandbox.people"),
    "groups": N_("sandbox.groups"),
    "acting_as": N_("sandbox.acting_as"),
    "type_message": N_("sandbox.type_message"),
    "send": N_("sandbox.send"),
    "commands": N_("sandbox.commands"),
    "attach": N_("sandbox.attach"),
    "photo": N_("sandbox.photo"),
    "file": N_("sandbox.file"),
    "location": N_("sandbox.location"),
    "live_location": N_("sandbox.live_location"),
    "move_location": N_("sandbox.move_location"),
    "cancel": N_("sandbox.cancel"),
    "plus_10m": N_("sandbox.plus_10m"),
    "plus_1h": N_("sandbox.plus_1h"),
    "next_deadline": N_("sandbox.next_deadline"),
    "add_person": N_("sandbox.add_person"),
    "add_person_name": N_("sandbox.add_person_name"),
    "unregistered": N_("sandbox.unregistered"),
    "edited": N_("sandbox.edited"),
    "private_chat": N_("sandbox.private_chat"),
    "pick_place": N_("sandbox.pick_place"),
    "send_here": N_("sandbox.send_here"),
    "offline": N_("sandbox.offline"),
    "choose_chat": N_("sandbox.choose_chat"),
    "back": N_("sandbox.back"),
    "disconnected": N_("sandbox.disconnected"),
}
