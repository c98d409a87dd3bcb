"""Webhook mode: Telegram POSTs each update to us; it is stored in the update inbox before the 200, and workers take it
from there (bot.telegram.workers), never "in the background" after answering: a crash after the 200 loses nothing.

Telegram sends the secret it was given with setWebhook in `X-Telegram-Bot-Api-Secret-Token`; a request without it (or
with another) is answered 401 and changes nothing. A body that is not an update is answered 400 and logged (Telegram
would retry a 5xx for ever); a failure to store is a 500, which Telegram retries.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from bot.domain import jsoncodec
from bot.telegram import metrics

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# an update is at most a few kB; a message with entities and a reply markup stays far under this
MAX_BODY = 1024 * 1024


def sender_of(update: Mapping[str, Any]) -> int | None:
    """Whose update it is: the person it comes from (or the chat, for what has no person), so that one person's
    updates are handled one at a time, in order. None for an update of no one (a poll's state)."""
    for key, event in update.items():
        if key == "update_id" or not isinstance(event, Mapping):
            continue
        person = event.get("from") or event.get("user")
        if isinstance(person, Mapping) and isinstance(person.get("id"), int):
            return int(person["id"])
        chat = event.get("chat") or (event.get("message") or {}).get("chat")
        if isinstance(chat, Mapping) and isinstance(chat.get("id"), int):
            return int(chat["id"])
    return None


Store = Callable[[int, str, int | None], Awaitable[None]]  # update id, the update as posted, its sender


class WebhookReceiver:
    """The webhook's HTTP handler: check the secret, `store` the update (the worker's receive: stored durably, and
    taken to run when it may), answer 200."""

    def __init__(self, store: Store, secret: str) -> None:
        self.store, self.secret = store, secret.encode()

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            metrics.WEBHOOK_REFUSED.labels("secret").inc()
            log.warning("webhook request without the right secret from %s: refused", request.remote)
            return web.Response(status=401, text="unauthorized")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return self._bad(request, "too large")
        try:
            body = await request.read()
            update = jsoncodec.loads(body)
        except (ValueError, web.HTTPRequestEntityTooLarge):
            return self._bad(request, "not JSON")
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
            return self._bad(request, "no update_id")
        await self.store(update_id, body.decode("utf-8"), sender_of(update))
        metrics.UPDATES_RECEIVED.inc()
        return web.json_response({})

    def _bad(self, request: web.Request, why: str) -> web.Response:
        metrics.WEBHOOK_REFUSED.labels("not an update").inc()
        log.warning("webhook body from %s is no update (%s): answered 400, not stored", request.remote, why)
        return web.Response(status=400, text=f"bad request: {why}")


def webhook_app(
    receiver: WebhookReceiver,
    path: str,
    ready: Callable[[], Awaitable[list[str]]] | None = None,
    render_metrics: Callable[[], Awaitable[tuple[bytes, str]]] | None = None,
) -> web.Application:
    """The HTTP application a worker serves: the webhook at `path`, /healthz (the process is up), /readyz (what
    `ready` finds wrong: 503 with the list, else 200) and /metrics (Prometheus' text format)."""
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(path, receiver.handle)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_request: web.Request) -> web.Response:
        problems = await ready() if ready is not None else []
        if problems:
            return web.Response(status=503, text="not ready: " + "; ".join(problems))
        return web.Response(text="ready")

    async def metrics_page(_request: web.Request) -> web.Response:
        if render_metrics is None:
            return web.Response(status=404)
        body, content_type = await render_metrics()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app
