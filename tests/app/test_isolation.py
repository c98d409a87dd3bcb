"""Event isolation: two quick messages from one user are processed one after the other."""

from __future__ import annotations

import asyncio
import os

import pytest
from aiogram.fsm.storage.base import StorageKey

from bot.app.runtime import build_isolation
from bot.app.settings import load_settings

REDIS_URL = os.environ.get("KUAIBAO_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.mark.parametrize("redis", [False, True], ids=["in-process", "redis"])
async def test_same_user_is_serialised(redis: bool) -> None:
    settings = load_settings({"redis_url": REDIS_URL if redis else None}, environ={}, env_file=None)
    isolation = build_isolation(settings)
    if redis:
        try:
            await isolation.redis.ping()  # type: ignore[attr-defined]
        except Exception as exc:
            if os.environ.get("KUAIBAO_REQUIRE_PG") == "1":
                raise
            pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    key = StorageKey(bot_id=1, chat_id=os.getpid(), user_id=os.getpid())
    order: list[str] = []

    async def handle(name: str) -> None:
        async with isolation.lock(key):
            order.append(f"{name}-in")
            await asyncio.sleep(0.05)
            order.append(f"{name}-out")

    await asyncio.gather(handle("a"), handle("b"))
    assert order in (["a-in", "a-out", "b-in", "b-out"], ["b-in", "b-out", "a-in", "a-out"])
    await isolation.close()
