"""The sandbox without a browser: the command without a token names it, the seeded office is real rows made by the
use cases, --empty and --reset, the page's API refuses bad input with a localized answer and loses nothing, the
clock moves the bot's deadlines (and only the sandbox's), the shipped drills play to their end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.app.runtime import App
from bot.app.sandbox import drills
from bot.app.sandbox.runner import Sandbox
from bot.domain.clock import utcnow
from storage.models import (
    Acknowledgement,
    DispatchPart,
    DutyGroup,
    Incident,
    Shift,
    Unit,
    User,
    Warning,
    WarningDelivery,
)
from storage.uow import unit_of_work
from tests.sandbox.conftest import sandbox_settings

ROOT = Path(__file__).resolve().parents[2]


async def count(box: Sandbox, model: type) -> int:
    assert box.app is not None
    async with unit_of_work(box.app.sessionmaker) as repos:
        return int(await repos.session.scalar(select(func.count()).select_from(model)) or 0)


@contextlib.asynccontextmanager
async def played(tmp_path: Path, scenario: drills.Scenario, timeout: float) -> AsyncIterator[Sandbox]:
    """A sandbox that played `scenario` at full speed to its end, without failing; stopped afterwards."""
    scenario.pace = 0.0
    box = Sandbox(sandbox_settings(tmp_path), port=0, scenario=scenario, drill_waits=False)
    await box.start()
    try:
        assert box.player is not None
        await asyncio.wait_for(box.player.done.wait(), timeout=timeout)
        assert box.player.failed is None
        yield box
    finally:
        await box.stop()


async def post(box: Sandbox, body: Any, lang: str = "zh-CN") -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(f"{box.url}/api/act?lang={lang}", json=body) as r:
        return r.status, await r.json()


def bot_command(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` as a newcomer runs it, in `cwd`; what it printed and its exit code."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=90
    )


def test_run_without_a_token_names_the_sandbox(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    done = bot_command(tmp_path, "run", env=env)
    assert done.returncode == 2
    assert "BotFather" in done.stderr and "python -m bot sandbox" in done.stderr
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert "-m bot run" in first
    front = readme.split("```sh", 3)[2].split("## ", 1)[0]  # what follows the two commands
    assert "-m bot sandbox" in front and "docs/sandbox.md" in front


async def test_the_seeded_office_is_made_of_real_rows(sandbox: Sandbox) -> None:
    assert await count(sandbox, Unit) == 4  # the city, two counties, the fire brigade (a linked unit)
    assert await count(sandbox, User) == 9
    assert await count(sandbox, DutyGroup) == 3
    assert sandbox.app is not None
    async with unit_of_work(sandbox.app.sessionmaker) as repos:
        now = utcnow()
        running = await repos.session.scalar(
            select(func.count()).select_from(Shift).where(Shift.starts_at <= now, Shift.ends_at > now)
        )
        assert running == 3  # the city's and both counties' shifts cover now
        warning = await repos.session.scalar(select(Warning))
        assert warning is not None and warning.level == "blue" and warning.state == "published"
    # the blue warning reaches every person and group of the city, as the broadcaster sends it
    api = sandbox.api
    await api.wait_for(lambda: all(any("蓝色" in s.text for s in api.in_chat(c)) for c in (1001, 1003, -1001002)))
    assert await count(sandbox, WarningDelivery) >= 12


async def test_empty_starts_blank_and_reset_starts_over(tmp_path: Path) -> None:
    box = Sandbox(sandbox_settings(tmp_path), port=0, empty=True)
    await box.start()
    try:
        assert await count(box, User) == 0
        status, answer = await post(box, {"action": "text", "as": 1001, "text": "/start"})
        assert status == 400 and "没有这个人" in answer["error"]  # nobody to act as yet
        status, answer = await post(box, {"action": "person", "name": "新同事"})
        assert status == 200
        stranger = answer["id"]
        await post(box, {"action": "text", "as": stranger, "text": "/start"})
        shown = await box.api.wait_for(lambda: box.api.in_chat(stranger))
        assert "注册" in shown[-1].text or "邀请" in shown[-1].text  # an unregistered person is told how to join
    finally:
        await box.stop()
    # the chats are kept beside the database: the next start shows them; --reset forgets both
    again = Sandbox(sandbox_settings(tmp_path), port=0)
    await again.start()
    try:
        assert again.page is not None and again.page.log.chats.get(stranger)
        assert await count(again, User) == 0  # not seeded over what was there
    finally:
        await again.stop()
    fresh = Sandbox(sandbox_settings(tmp_path), port=0, reset=True)
    await fresh.start()
    try:
        assert fresh.page is not None and not fresh.page.log.chats.get(stranger)
        assert await count(fresh, User) == 9
    finally:
        await fresh.stop()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"action": "text", "as": 1001, "text": "x" * 4097}, "过长"),
        ({"action": "text", "as": 1001, "text": "   "}, "空"),
        ({"action": "text", "as": 424242, "text": "hi"}, "没有这个人"),
        ({"action": "text", "as": 1001, "chat": 1003, "text": "hi"}, "无效"),  # someone else's private chat
        ({"action": "location", "as": 1001, "lat": 91, "lon": 0}, "无效"),
        ({"action": "location", "as": 1001, "lat": "north", "lon": 0}, "无效"),
        ({"action": "press", "as": 1001, "message_id": 99999, "data": "x"}, "不存在"),
        ({"action": "clock", "step": "-1h"}, "无效"),
        ({"action": "launch"}, "无效"),
        (["not", "a", "mapping"], "无效"),
    ],
)
async def test_bad_requests_get_a_clear_answer_and_change_nothing(sandbox: Sandbox, body: Any, words: str) -> None:
    before = len(sandbox.api.updates), sandbox.clock.offset
    status, answer = await post(sandbox, body)
    assert status == 400 and words in answer["error"], answer
    assert (len(sandbox.api.updates), sandbox.clock.offset) == before


async def test_answers_are_english_for_an_english_page(sandbox: Sandbox) -> None:
    status, answer = await post(sandbox, {"action": "text", "as": 1001, "text": ""}, lang="en-US")
    assert status == 400 and answer["error"] == "The message is empty."


async def test_a_huge_upload_is_refused_and_a_good_one_arrives(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData()
        form.add_field("as", "1001")
        form.add_field("kind", "document")
        form.add_field("file", b"x" * (21 * 1024 * 1024), filename="big.bin")
        async with http.post(f"{sandbox.url}/api/upload?lang=zh-CN", data=form) as r:
            assert r.status == 413 and "过大" in (await r.json())["error"]
        form = aiohttp.FormData()
        form.add_field("as", "1001")
        form.add_field("kind", "document")
        form.add_field("file", "单位,开始\n".encode(), filename="值班表.csv", content_type="text/csv")
        async with http.post(f"{sandbox.url}/api/upload", data=form) as r:
            assert r.status == 200
    shown = await sandbox.api.wait_for(
        lambda: [m for m in sandbox.page.log.chats.get(1001, {}).values() if m.get("document")]  # type: ignore[union-attr]
    )
    address = f"{sandbox.url}/api/file/{shown[0]['document']['file_id']}"
    async with aiohttp.ClientSession() as http, http.get(address) as r:
        assert await r.read() == "单位,开始\n".encode()


async def test_the_clock_moves_the_bots_deadlines(sandbox: Sandbox) -> None:
    """The scheduler reads the moved clock: the blue warning's receipt reminder (30 min) comes at once."""
    api = sandbox.api
    await api.wait_for(lambda: any("蓝色" in s.text for s in api.in_chat(1001)))
    status, answer = await post(sandbox, {"action": "clock", "step": "1h"})
    assert status == 200 and answer["clock"]["offset"] == 3600
    await api.wait_for(lambda: any("请确认收到预警" in s.text for s in api.in_chat(1001)), timeout=15)
    status, answer = await post(sandbox, {"action": "clock", "step": "next"})
    assert status == 200 and answer["clock"]["offset"] > 3600


def test_production_never_moves_its_clock() -> None:
    """The bot `run` and `serve` build keeps the real clock: only the sandbox passes one of its own."""
    import inspect

    assert inspect.signature(App).parameters["clock"].default is utcnow
    cli = (ROOT / "bot" / "app" / "cli.py").read_text(encoding="utf-8")
    runtime = (ROOT / "bot" / "app" / "runtime.py").read_text(encoding="utf-8")
    assert "MovableClock" not in cli + runtime and "App(settings)" in runtime


async def test_the_events_stream_shows_what_a_chat_shows(sandbox: Sandbox) -> None:
    await sandbox.api.wait_for(lambda: any("蓝色" in s.text for s in sandbox.api.in_chat(1003)))
    async with aiohttp.ClientSession() as http, http.get(f"{sandbox.url}/api/events") as stream:
        await stream.content.readline()  # the greeting
        await post(sandbox, {"action": "text", "as": 1003, "text": "/status"})
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while not any(e["message"]["from"].get("is_bot") for e in seen):
                line = (await stream.content.readline()).decode()
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if event.get("kind") == "new" and event["message"]["chat"]["id"] == 1003:
                        seen.append(event)
    assert seen[0]["kind"] == "new" and seen[0]["message"]["text"] == "/status"  # the person's own message first


@pytest.mark.timeout(400)  # a whole drill, on a loaded machine
@pytest.mark.parametrize("name", ["initial-report", "unacknowledged-alert"])
async def test_the_shipped_drills_play_to_their_end(tmp_path: Path, name: str) -> None:
    async with played(tmp_path, drills.load(drills.find(name)), timeout=240) as box:
        assert await count(box, Incident) == 1
        assert await count(box, Acknowledgement) == 1
        if name == "initial-report":
            assert any("第1次续报" in s.text for s in box.api.in_chat(1001))  # reminded, two days on
        else:
            city = [s.text for s in box.api.in_chat(-1001001)]
            assert any("KB-" in t for t in city)  # escalated to the city's duty group
            assert box.app is not None
            async with unit_of_work(box.app.sessionmaker) as repos:
                part = await repos.session.scalar(select(DispatchPart))
                assert part is not None and part.state == "accepted"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("steps: []", "a list of steps"),
        ("steps:\n  - {say: hi}", "needs as:"),
        ("steps:\n  - {as: x, say: hi, tap: y}", "one of"),
        ("steps:\n  - {advance: soon}", "not a duration"),
        ("steps:\n  - {as: x, location: [100, 0]}", "[latitude, longitude]"),
        ("steps:\n  - {as: x, shout: hi}", "unknown keys"),
        ("office: town\nsteps:\n  - {note: hi}", "seeded, empty or a mapping"),
        ("office: {units: []}\nsteps:\n  - {note: hi}", "units is a list"),
        ("office: {units: [{code: a, name: A, parent: b}]}\nsteps:\n  - {note: hi}", "not a unit listed before"),
        (
            "office: {units: [{code: a, name: A}], people: [{id: 1, name: X, unit: a, roles: [boss]}]}\n"
            "steps:\n  - {note: hi}",
            "roles is a list of",
        ),
        (
            "office: {units: [{code: a, name: A}], groups: [{id: 5, unit: a, title: G}]}\nsteps: [{note: hi}]",
            "negative",
        ),
        ("steps: [unclosed", "YAML"),
    ],
)
def test_a_bad_scenario_is_refused_by_step_before_anything_plays(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "drill.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(drills.ScenarioError, match=None) as refused:
        drills.load(path)
    assert words in str(refused.value)
    done = bot_command(tmp_path, "sandbox", "--scenario", str(path))
    assert done.returncode == 2 and words in done.stderr
    assert not (tmp_path / "sandbox.db").exists()


async def test_after_a_crash_that_lost_the_chats_the_bot_still_answers(tmp_path: Path) -> None:
    """Killed before the chats were written: the stand-in numbers its updates after the ones the bot handled, which
    the bot would otherwise take for ones it saw already (and answer nothing)."""
    box = Sandbox(sandbox_settings(tmp_path), port=0)
    await box.start()
    try:
        for _ in range(3):
            await post(box, {"action": "text", "as": 1003, "text": "/status"})
        await box.api.wait_for(lambda: len([s for s in box.api.in_chat(1003) if "未结事件" in s.text]) >= 3, timeout=20)
    finally:
        await box.stop()
    box.state_file.unlink()  # as if it had been killed before ever writing it
    again = Sandbox(sandbox_settings(tmp_path), port=0)
    await again.start()
    try:
        await post(again, {"action": "text", "as": 1003, "text": "/help"})
        shown = await again.api.wait_for(lambda: [s for s in again.api.in_chat(1003) if "/status" in s.text])
        assert shown
    finally:
        await again.stop()


async def test_an_uploaded_page_is_only_ever_downloaded(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData()
        form.add_field("as", "1001")
        form.add_field("kind", "photo")  # claimed to be a photo, but it is HTML
        form.add_field("file", b"<script>alert(1)</script>", filename="x.html", content_type="text/html")
        async with http.post(f"{sandbox.url}/api/upload", data=form) as r:
            assert r.status == 200
        assert sandbox.page is not None
        sent = await sandbox.api.wait_for(
            lambda: [m for m in sandbox.page.log.chats.get(1001, {}).values() if m.get("document")]  # type: ignore[union-attr]
        )
        async with http.get(f"{sandbox.url}/api/file/{sent[0]['document']['file_id']}") as r:
            assert r.headers["Content-Type"] == "application/octet-stream"
            assert r.headers["Content-Disposition"].startswith("attachment")
            assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = bot_command(tmp_path, "sandbox", "--port", str(port))
    assert done.returncode == 1 and "could not start" in done.stderr and "--port" in done.stderr


@pytest.mark.parametrize(
    "headers",
    [{"Host": "evil.example:8080"}, {"Origin": "http://evil.example"}],
)
async def test_another_site_cannot_act_through_the_page(sandbox: Sandbox, headers: dict[str, str]) -> None:
    """A page of another site (a form posted across origins) or a name that points here (DNS rebinding) is
    refused before anything is sent as anyone."""
    before = len(sandbox.api.updates)
    async with aiohttp.ClientSession() as http:
        body = {"action": "text", "as": 1001, "text": "/report"}
        async with http.post(f"{sandbox.url}/api/act", json=body, headers=headers) as r:
            assert r.status == 403
    assert len(sandbox.api.updates) == before


async def test_a_message_the_bot_deletes_leaves_the_page(sandbox: Sandbox) -> None:
    assert sandbox.page is not None
    log = sandbox.page.log
    shown = await sandbox.api.wait_for(lambda: list(log.chats.get(1001, {}).values()))
    queue: asyncio.Queue[str] = asyncio.Queue()
    log.pages.add(queue)
    gone = shown[0]["message_id"]
    async with aiohttp.ClientSession() as http:
        address = f"{sandbox.api.base_url}/bot{sandbox.api.token}/deleteMessage"
        async with http.post(address, json={"chat_id": 1001, "message_id": gone}) as r:
            assert (await r.json())["ok"]
    assert gone not in log.chats[1001]
    event = json.loads(await asyncio.wait_for(queue.get(), 5))
    assert event == {"kind": "delete", "chat_id": 1001, "message_id": gone}


async def test_a_drill_may_bring_an_office_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "town.yaml"
    path.write_text(
        """
title: 乡镇值班演练
office:
  units:
    - {code: county, name: 临江县应急管理局}
    - {code: town, name: 清水镇, parent: county}
  people:
    - {id: 501, name: 镇信息员, unit: town, roles: [reporter]}
    - {id: 502, name: 镇值班员, unit: town, roles: [duty_officer], phone: "13900000502"}
    - {id: 503, name: 县带班, unit: county, roles: [duty_leader, admin]}
  groups:
    - {id: -2002, unit: town, title: 清水镇值班群}
  map:
    south: 29.0
    north: 29.2
    west: 110.0
    east: 110.3
    places: [{name: 清水镇政府, lat: 29.1, lon: 110.1}]
steps:
  - {as: 镇值班员, say: /duty}
""",
        encoding="utf-8",
    )
    async with played(tmp_path, drills.load(path), timeout=60) as box:
        assert await count(box, User) == 3 and await count(box, DutyGroup) == 1
        assert await count(box, Warning) == 0  # no publisher, no warning
        answer = [s.text for s in box.api.in_chat(502)]
        assert any("镇值班员" in t for t in answer), answer  # on duty now, by the roster the office was given
        assert 503 in box.api.chat_admins[-2002]  # its administrator administers its group
        async with aiohttp.ClientSession() as http, http.get(f"{box.url}/api/state") as r:
            area = (await r.json())["map"]
        assert area["south"] == 29.0 and area["places"] == [{"name": "清水镇政府", "lat": 29.1, "lon": 110.1}]


async def test_a_live_location_moves_until_it_runs_out(sandbox: Sandbox) -> None:
    status, shared = await post(sandbox, {"action": "live", "as": 1001, "lat": 31.2, "lon": 121.4})
    assert status == 200
    seen: list[dict[str, Any]] = []
    sandbox.api.listen(seen.append)
    move = {"action": "move", "as": 1001, "message_id": shared["message_id"], "lat": 31.3, "lon": 121.5}
    status, _ = await post(sandbox, move)
    assert status == 200
    moved = [e for e in seen if e["kind"] == "edit" and e["message"]["from"]["id"] == 1001]
    assert moved and moved[0]["message"]["location"]["longitude"] == 121.5  # sent to the bot as an edited_message
    assert sandbox.page is not None
    assert sandbox.page.log.chats[1001][shared["message_id"]]["location"]["latitude"] == 31.3
    status, _ = await post(sandbox, {"action": "clock", "step": "1h"})  # past its 15 minutes
    status, answer = await post(sandbox, {**move, "lat": 31.4})
    assert status == 400 and "不存在" in answer["error"]
    status, answer = await post(sandbox, {**move, "as": 1003})  # someone else's live location
    assert status == 400


def test_a_database_it_cannot_open_is_named(tmp_path: Path) -> None:
    env = {**os.environ, "SANDBOX_DATABASE": str(tmp_path / "missing" / "sandbox.db")}
    done = bot_command(tmp_path, "sandbox", "--port", "18095", env=env)
    assert done.returncode == 1 and "could not open its database" in done.stderr and "Traceback" not in done.stderr
