"""Several webhook workers on one machine, run by gunicorn (`python -m bot serve --workers N`): gunicorn forks N
processes sharing WEBHOOK_LISTEN's socket, restarts one that dies, and stops them gracefully; each runs aiohttp's
gunicorn worker class with the application below, a full worker of its own (bot.app.runtime.App: the webhook, the
inbox, the scheduler's and the broadcast's leases). Chosen over a supervisor of our own: gunicorn is the process
manager operators know, and aiohttp ships its worker class.

    gunicorn bot.app.gunicorn:application --worker-class aiohttp.GunicornWebWorker --workers 3 --bind 127.0.0.1:8081
"""

from __future__ import annotations

import sys

from aiohttp import web

from bot.app.runtime import SQLITE_ONE_WORKER, App, SqliteTaken, settle_heap
from bot.app.settings import SettingsError, load_settings


def command(workers: int, listen: str) -> list[str]:
    """The gunicorn command line `serve --workers N` runs; its workers share a fresh folder for their metrics."""
    import os
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kuaibao-metrics-")
    return [
        sys.executable, "-m", "gunicorn", "bot.app.gunicorn:application",
        "--worker-class", "aiohttp.GunicornWebWorker", "--workers", str(workers), "--bind", listen,
        "--graceful-timeout", "10", "--timeout", "120",
    ]  # fmt: skip


async def application() -> web.Application:
    """One worker process's application: the App starts with the HTTP server and closes with it."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise SystemExit(str(exc)) from None
    from bot.app.logs import configure

    configure(settings.log_level, settings.secrets())
    app = App(settings)
    await app.start(polling=False)
    try:
        web_app = await app.webhook_application()
    except SqliteTaken:
        await app.close()
        raise SystemExit(SQLITE_ONE_WORKER) from None

    async def opened(_web_app: web.Application) -> None:
        await app.open_webhook()
        settle_heap()

    async def closed(_web_app: web.Application) -> None:
        await app.close()

    web_app.on_startup.append(opened)
    web_app.on_cleanup.append(closed)
    return web_app
