"""The sandbox running in-process (its own SQLite file in tmp_path, its page on a free port), and Chromium for the
browser tests: Debian's /usr/bin/chromium driven by Playwright (no browser download). Without Chromium the browser
tests are skipped with the reason; CI (KUAIBAO_REQUIRE_BROWSER=1) requires them."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app.sandbox.runner import Sandbox
from bot.app.settings import load_settings

CHROMIUM = os.environ.get("KUAIBAO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).is_file()
REQUIRE_BROWSER = os.environ.get("KUAIBAO_REQUIRE_BROWSER") == "1"
# the flags this machine's closed network needs (no background connections), headless, as root in CI
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def sandbox_settings(tmp_path: Path, **overrides: Any) -> Any:
    return load_settings(
        {"sandbox_database": str(tmp_path / "sandbox.db"), "send_chat_burst": 50, **overrides},
        environ={},
        env_file=None,
    )


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    box = Sandbox(sandbox_settings(tmp_path), port=0)
    await box.start()
    try:
        yield box
    finally:
        await box.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        if REQUIRE_BROWSER:
            raise AssertionError(f"Chromium is required here (KUAIBAO_REQUIRE_BROWSER=1) and not at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; CI installs it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
