"""The sandbox page in a real browser (headless Chromium): a reporter files an initial report through the page
(buttons, typed answers, a location from the map, a photo), the duty group's pane shows the alert, the officer
acknowledges it, the clock moves on and the follow-up reminder appears. Screenshots of the steps are taken each run:
to docs/sandbox/ with KUAIBAO_SCREENSHOTS=docs (to refresh the manual's pictures), else to a temporary folder (a test
run leaves the checkout as it was). JavaScript errors are counted: none."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app.sandbox import drills
from bot.app.sandbox.runner import Sandbox
from bot.usecases.onboarding import create_invite
from storage.models import Acknowledgement, Alert, Incident, Report, User
from storage.uow import unit_of_work
from tests.sandbox.conftest import sandbox_settings

SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "sandbox"
    if os.environ.get("KUAIBAO_SCREENSHOTS") == "docs"
    else Path(tempfile.gettempdir()) / "kuaibao-screenshots"
)
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1200, "height": 800}


def scene_picture(path: Path) -> None:
    """A photo of the scene (drawn: a road, two vehicles)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 300), (150, 190, 140))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 120, 480, 200), fill=(90, 90, 95))
    draw.rectangle((150, 130, 250, 170), fill=(200, 60, 50))
    draw.rectangle((240, 140, 370, 190), fill=(240, 240, 240))
    image.save(path)


class Page:
    """The page as a person uses it; every action waits until what the bot did in answer has been shown."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)

    async def events(self) -> int:
        return int(await self.page.evaluate("Number(document.body.dataset.events || 0)"))

    async def settle(self, before: int, quiet: float = 0.5, timeout: float = 20.0) -> None:
        """At least one change shown since `before`, then nothing new for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        await self.page.wait_for_function(
            f"Number(document.body.dataset.events || 0) > {before}", timeout=timeout * 1000
        )
        count = -1
        while count != await self.events() and time.monotonic() < deadline:
            count = await self.events()
            await asyncio.sleep(quiet)

    async def open(self, name: str) -> None:
        if await self.page.locator("#back").is_visible():
            await self.page.click("#back")
        await self.page.locator("#personas li", has_text=name).first.click()

    async def say(self, text: str) -> None:
        before = await self.events()
        await self.page.fill("#composer-input", text)
        await self.page.press("#composer-input", "Enter")
        await self.settle(before)

    async def tap(self, label: str) -> None:
        before = await self.events()
        inline = self.page.locator("#messages .ikb button", has_text=label)
        if await inline.count():
            await inline.last.click()
        else:
            await self.page.locator("#reply-keyboard button", has_text=label).first.click()
        await self.settle(before)

    async def place(self, name: str, live: bool = False, keyboard: bool = False) -> None:
        """A place from the map: through 📎 (a location or a live one), or the reply keyboard's 📍 button."""
        before = await self.events()
        if keyboard:
            await self.page.locator("#reply-keyboard button").first.click()
        else:
            await self.page.click("#attach")
            await self.page.click("#attach-live" if live else "#attach-location")
        await self.page.locator("#map-places button", has_text=name).click()
        await self.page.click("#map-send")
        await self.settle(before)

    async def photo(self, path: Path) -> None:
        before = await self.events()
        await self.page.click("#attach")
        await self.page.set_input_files("#photo-input", str(path))
        await self.settle(before)

    async def text(self) -> str:
        return str(await self.page.inner_text("#messages"))

    async def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SHOTS / name))


async def visit(browser: Any, url: str, locale: str, viewport: dict[str, int]) -> tuple[Any, Page]:
    """A browser of this language and screen size opens the page and waits for the people to be listed."""
    context = await browser.new_context(locale=locale, viewport=viewport)
    p = Page(await context.new_page())
    await p.page.goto(url)
    await p.page.wait_for_selector("#personas li[data-persona]")
    return context, p


async def post_json(box: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    """What the page posts for a person (for the people a test does not drive through the browser)."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.post(f"{box.url}/api/act", json=body) as r:
        answer: dict[str, Any] = await r.json()
        assert r.status == 200, answer
        return answer


async def incident_of(box: Sandbox) -> Incident:
    assert box.app is not None
    async with unit_of_work(box.app.sessionmaker) as repos:
        incident = await repos.session.scalar(select(Incident))
        assert incident is not None
        return incident


@pytest.mark.timeout(400)  # twenty steps of a person in a browser, on a loaded machine
async def test_a_report_through_the_page_reaches_the_group_is_acknowledged_and_reminded(
    sandbox: Sandbox, browser: Any, tmp_path: Path
) -> None:
    context, p = await visit(browser, sandbox.url, "zh-CN", PHONE)
    assert await p.page.inner_text("#title") == "快报沙盒"

    # the reporter's private chat: the blue warning the office published is there, with its button
    await p.open("王小报")
    assert "蓝色" in await p.text()
    await p.say("/report")
    await p.tap("30分钟前")
    assert await p.page.locator("#reply-keyboard").is_visible()  # the form's 📍 button, as a reply keyboard
    await p.place("东城县 江堤3号闸口", keyboard=True)
    assert "31.2304" in await p.text()
    await p.say("东城县江堤 3 号闸口")
    await p.tap("现场人员")
    await p.tap("下一步")
    await p.tap("事故灾难")
    await p.tap("交通运输事故")
    await p.say("货车与客车相撞，<2 辆车> & 人员受困")
    await p.tap("跳过")
    await p.say("受伤2")
    await p.say("30万")
    await p.say("已封闭道路，救护车到场")
    await p.tap("确认")
    picture = tmp_path / "现场.png"
    scene_picture(picture)
    await p.photo(picture)
    assert await p.page.locator("#messages img").count() >= 1  # the photo as sent
    await p.shot("01-report-form-phone.png")
    await p.tap("下一步")
    await p.tap("提交")
    text = await p.text()
    number = re.search(r"KB-\d{8}-\d{4}", text)
    assert number, text
    incident = await incident_of(sandbox)
    assert incident.number == number.group(0)
    assert sandbox.app is not None
    async with unit_of_work(sandbox.app.sessionmaker) as repos:
        report = await repos.session.scalar(select(Report).where(Report.incident_id == incident.id))
        assert report is not None and "<2 辆车> & 人员受困" in str(report.fields)

    # the duty group's pane shows the alert; the county's duty officer acknowledges it there
    await p.page.set_viewport_size(DESK)
    await p.open("东城县应急值班群")
    await p.page.wait_for_function(
        f"document.querySelector('#messages').innerText.includes('{incident.number}')", timeout=20_000
    )
    await p.page.select_option("#acting-select", "1002")
    await p.shot("02-alert-in-duty-group.png")
    await p.tap("收到")
    async with unit_of_work(sandbox.app.sessionmaker) as repos:
        alert = await repos.session.scalar(select(Alert).where(Alert.chat_id == -1001002))
        assert alert is not None
        ack = await repos.session.scalar(select(Acknowledgement).where(Acknowledgement.alert_id == alert.id))
        assert ack is not None and ack.at >= incident.created_at
    assert "周县值" in await p.text()
    await p.shot("03-acknowledged.png")

    # the clock moves to each next deadline until the reporter is reminded of the follow-up (续报)
    await p.open("王小报")
    for _ in range(8):
        if "续报" in (await p.text()).split(incident.number)[-1] and "提醒" in await p.text():
            break
        before = await p.events()
        await p.page.click("#clock-next")
        await p.settle(before, quiet=1.0)
    tail = (await p.text()).split("提交")[-1]
    assert "续报" in tail and incident.number in tail, tail
    assert sandbox.clock.offset.total_seconds() > 0
    await p.shot("04-follow-up-reminder.png")
    assert p.errors == []
    await context.close()


async def test_the_page_is_english_for_an_english_browser_and_fits_a_phone(sandbox: Sandbox, browser: Any) -> None:
    context, p = await visit(browser, sandbox.url, "en-US", PHONE)
    assert await p.page.inner_text("#title") == "Kuaibao sandbox"
    assert "duty officer" in await p.page.inner_text("#personas")
    await p.open("李值班")
    assert not await p.page.locator("#personas").is_visible()  # a phone shows one pane at a time
    await p.page.click("#commands")
    assert await p.page.locator("#commands-menu button", has_text="/status").count() == 1
    before = await p.events()
    await p.page.locator("#commands-menu button", has_text="/help").click()
    await p.settle(before)
    assert "/overdue" in await p.text()  # the bot's answer, in English for an English phone
    assert "Commands" in await p.text() or "commands" in await p.text()
    before = await p.events()
    await p.page.locator("#messages a.cmd-link", has_text="/duty").last.click()  # a command in a message is tapped
    await p.settle(before)
    assert (await p.page.locator("#messages .msg.mine").last.inner_text()).startswith("/duty")
    width = await p.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # nothing wider than the phone
    await p.shot("06-english-phone.png")
    assert p.errors == []
    await context.close()


async def test_callback_popups_live_location_and_files_show_in_the_page(
    sandbox: Sandbox, browser: Any, tmp_path: Path
) -> None:
    context, p = await visit(browser, sandbox.url, "zh-CN", DESK)
    # a stale button: the bot's popup shows
    await p.open("王小报")
    await p.tap("收到")  # the warning's receipt: the bot answers with a popup
    await p.page.wait_for_selector("#toast:not([hidden]), #alert-dialog:not([hidden])", timeout=10_000)
    # a live location, then moved: the bubble is edited in place
    await p.place("东城县 G205国道", live=True)
    bubbles = p.page.locator("#messages .msg", has_text="实时位置")
    assert await bubbles.count() == 1
    before = await p.events()
    await bubbles.last.locator("button.move").click()
    await p.page.locator("#map-places button", has_text="西山县 矿区").click()
    await p.page.click("#map-send")
    await p.page.wait_for_function(f"Number(document.body.dataset.events) > {before}")
    await p.page.wait_for_function("document.querySelector('#messages').innerText.includes('31.36210')")
    assert await p.page.locator("#messages .msg", has_text="实时位置").count() == 1
    # an invite link pasted in a group: a new person taps it, the private chat opens with /start CODE, they join
    assert sandbox.app is not None
    async with unit_of_work(sandbox.app.sessionmaker) as repos:
        invite = await create_invite(repos, "test", "east", "reporter", timedelta(days=1))

    async def name_them(dialog: Any) -> None:
        await dialog.accept("新同事")

    p.page.once("dialog", name_them)
    if await p.page.locator("#back").is_visible():
        await p.page.click("#back")
    await p.page.click("#add-person")  # "+ add an unregistered person": asks for a name
    await p.page.wait_for_selector("#personas li:has-text('新同事')")
    link = f"https://t.me/kuaibao_test_bot?start={invite.code}"
    await post_json(sandbox, {"action": "text", "as": 1006, "chat": -1001002, "text": f"新同事请点：{link} 注册"})
    await p.open("东城县应急值班群")
    await p.page.wait_for_selector(f"#messages a.cmd-link:has-text('{invite.code}')")
    await p.page.select_option("#acting-select", label="新同事")
    before = await p.events()
    await p.page.locator("#messages a.cmd-link", has_text=invite.code).click()
    await p.settle(before, quiet=1.0)
    assert "与机器人的私聊" in await p.page.inner_text("#chat-name") and "新同事" in await p.page.inner_text(
        "#chat-name"
    )
    async with unit_of_work(sandbox.app.sessionmaker) as repos:
        joined = await repos.session.scalar(select(User).where(User.name == "新同事"))
        assert (joined is not None and joined.roles == ["reporter"]) or (
            joined is not None and "reporter" in joined.roles
        )
    # a file chosen on the page reaches the bot (a roster with a bad row: the bot names the row)
    await p.open("陈管理")
    roster = tmp_path / "值班表.csv"
    roster.write_text(
        "单位,开始,结束,角色,姓名\neast,2026-13-01 08:00,2026-12-02 08:00,值班员,周县值\n", encoding="utf-8"
    )
    before = await p.events()
    await p.page.click("#attach")
    await p.page.set_input_files("#file-input", str(roster))
    await p.settle(before, quiet=1.0)
    assert await p.page.locator("#messages a", has_text="值班表.csv").count() == 1
    assert "第 2 行" in await p.text() or "第2行" in await p.text()
    assert p.errors == []
    await context.close()


@pytest.mark.timeout(400)  # a whole drill at a fifth of a second a step, on a loaded machine
async def test_a_drill_starts_when_the_page_opens_and_plays_in_it(browser: Any, tmp_path: Path) -> None:
    scenario = drills.load(drills.find("unacknowledged-alert"))
    scenario.pace = 0.2
    box = Sandbox(sandbox_settings(tmp_path), port=0, scenario=scenario)
    await box.start()
    try:
        await asyncio.sleep(1.5)
        assert box.player is not None and not box.api.in_chat(1001)[1:]  # nothing played before anyone watches
        context, p = await visit(browser, box.url, "zh-CN", DESK)
        await p.open("滨江市应急值班群")
        await p.page.wait_for_function(
            "document.querySelector('#banner').innerText.startsWith('■')",
            timeout=180_000,  # the drill's end
        )
        assert box.player.failed is None
        assert "滨江市消防救援支队" in await p.text() or "收到" in await p.text()
        await p.shot("05-drill.png")
        assert p.errors == []
        await context.close()
    finally:
        await box.stop()
