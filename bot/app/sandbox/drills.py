"""Drills (演练): a scenario file (YAML) that plays itself in the sandbox, for training. Its format (docs/sandbox.md):

    title: 暴雨初报演练            # shown on the page
    office: seeded               # or empty, or an office of its own (units, people, groups, linked: docs/sandbox.md)
    pace: 1.5                    # real seconds between steps (default 1.5)
    steps:
      - note: 东城县信息员报告一起交通事故   # a caption on the page
      - {as: 王小报, say: /report}          # a person (name or Telegram id) types; chat: private unless named
      - {as: 王小报, tap: 30分钟前}          # presses the button so labelled on the newest message that has it
      - {as: 王小报, location: [31.23, 121.47]}
      - {as: 王小报, photo: 现场.png}        # a built-in picture, sent as a photo
      - {as: 李值班, chat: 滨江市应急值班群, tap: 收到}   # in a group: its title, its unit's code or its chat id
      - {advance: 10m}                      # the bot's clock moves on (nobody did anything for 10 minutes)
      - {at: 2h}                            # the bot's clock moves to 2 hours after the drill began
      - {pause: 5}                          # real seconds
      - {as: 张带班, say: "/dispatch {incident}"}   # {incident}: the newest incident number the bot showed

Every step is checked when the file is read (a bad step is named with its number, nothing plays); while it plays, a
step that cannot be done (no such button) is shown on the page and the drill stops there."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.app.sandbox.botapi import FakeBotAPI
from bot.app.sandbox.clock import MovableClock
from bot.app.sandbox.seed import Office, OfficeError, office_from
from bot.domain.durations import parse_duration

log = logging.getLogger(__name__)

SCENARIOS = Path(__file__).with_name("scenarios")
ACTIONS = ("say", "tap", "location", "live", "photo")
KEYS = {"as", "chat", "say", "tap", "location", "live", "photo", "note", "advance", "at", "pause"}
SETTLE_TIMEOUT = 15.0
INCIDENT = re.compile(r"KB-\d{8}-\d{4}")
# a 1×1 PNG: the picture a drill's photo step sends
PICTURE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


class ScenarioError(ValueError):
    """A scenario file that cannot be played: what is wrong, and where."""


@dataclass(frozen=True)
class Step:
    number: int
    raw: dict[str, Any]


@dataclass
class Scenario:
    title: str
    office: str | Office = "seeded"
    pace: float = 1.5
    steps: list[Step] = field(default_factory=list)


def find(name_or_path: str) -> Path:
    """A file, or the name of a scenario that ships (scenarios/NAME.yaml)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = SCENARIOS / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in SCENARIOS.glob("*.yaml")))
    raise ScenarioError(f"{name_or_path}: no such file, nor a scenario that ships ({names})")


def _duration(value: Any, where: str) -> timedelta:
    span = parse_duration(str(value))
    if span is None:
        raise ScenarioError(f"{where}: {value!r} is not a duration such as 10m, 1h, 2d")
    return span


def load(path: Path) -> Scenario:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: cannot be read as YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list) or not raw["steps"]:
        raise ScenarioError(f"{path}: a scenario is a mapping with a title and a list of steps")
    scenario = Scenario(title=str(raw.get("title") or path.stem))
    office = raw.get("office") or "seeded"
    if isinstance(office, dict):
        try:
            scenario.office = office_from(office)
        except OfficeError as exc:
            raise ScenarioError(f"{path}: office: {exc}") from None
    elif office in ("seeded", "empty"):
        scenario.office = str(office)
    else:
        raise ScenarioError(f"{path}: office is seeded, empty or a mapping of units, people and groups, not {office!r}")
    try:
        scenario.pace = float(raw.get("pace", 1.5))
    except (TypeError, ValueError):
        raise ScenarioError(f"{path}: pace is a number of seconds") from None
    if not 0 <= scenario.pace <= 60:
        raise ScenarioError(f"{path}: pace is between 0 and 60 seconds")
    for number, step in enumerate(raw["steps"], 1):
        where = f"{path.name}, step {number}"
        if not isinstance(step, dict) or not step:
            raise ScenarioError(f"{where}: a step is a mapping such as {{as: 王小报, say: /report}}")
        unknown = set(step) - KEYS
        if unknown:
            raise ScenarioError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(KEYS)})")
        actions = [k for k in ACTIONS if k in step]
        others = [k for k in ("note", "advance", "at", "pause") if k in step]
        if len(actions) + len(others) != 1:
            raise ScenarioError(f"{where}: one of {[*ACTIONS, 'note', 'advance', 'at', 'pause']} per step")
        if actions and "as" not in step:
            raise ScenarioError(f"{where}: {actions[0]} needs as: (who does it)")
        if "advance" in step or "at" in step:
            _duration(step.get("advance", step.get("at")), where)
        if "pause" in step and not isinstance(step["pause"], int | float):
            raise ScenarioError(f"{where}: pause is a number of seconds")
        for key in ("location", "live"):
            if key in step:
                place = step[key]
                if (
                    not isinstance(place, list)
                    or len(place) != 2
                    or not all(isinstance(x, int | float) for x in place)
                    or not (-90 <= place[0] <= 90 and -180 <= place[1] <= 180)
                ):
                    raise ScenarioError(f"{where}: {key} is [latitude, longitude]")
        scenario.steps.append(Step(number, step))
    return scenario


class Player:
    """Plays a scenario against the running sandbox: people act through the Bot API stand-in, as from the page."""

    def __init__(
        self,
        scenario: Scenario,
        api: FakeBotAPI,
        clock: MovableClock,
        names: dict[str, int],
        chats: dict[str, int],
        keyboards: dict[int, dict[str, Any]],
        say: Any,
    ) -> None:
        self.scenario, self.api, self.clock, self.keyboards = scenario, api, clock, keyboards
        self.names, self.chats = names, chats  # a person's name -> id; a group's title or unit code -> chat id
        self.called = {tid: name for name, tid in names.items() if not name.isdigit()}
        self.say = say  # shows a caption on the page: say(text)
        self.began = clock()
        self.done = asyncio.Event()
        self.failed: str | None = None

    def _who(self, step: Step) -> int:
        who = step.raw["as"]
        if isinstance(who, int):
            return who
        if str(who) in self.names:
            return self.names[str(who)]
        raise ScenarioError(f"step {step.number}: nobody called {who!r}")

    def _chat(self, step: Step, who: int) -> int:
        chat = step.raw.get("chat")
        if chat is None or chat == "private":
            return who
        if isinstance(chat, int):
            return chat
        if str(chat) in self.chats:
            return self.chats[str(chat)]
        raise ScenarioError(f"step {step.number}: no chat {chat!r}")

    async def play(self, watched: asyncio.Event | None = None) -> None:
        """Play every step in order (after `watched` is set: a page opened, so someone sees it from the start)."""
        if watched is not None:
            await watched.wait()
            await asyncio.sleep(1.0)  # the page loads what is there first
        self.began = self.clock()  # `at:` counts from here
        try:
            self.say(f"▶ {self.scenario.title}")
            for step in self.scenario.steps:
                await asyncio.sleep(self.scenario.pace)
                await self.step(step)
            self.say(f"■ {self.scenario.title}")
        except ScenarioError as exc:
            self.failed = str(exc)
            self.say(f"⚠ {exc}")
            log.warning("the drill stopped: %s", exc)
        except Exception as exc:  # the sandbox goes on; the drill says it stopped, and why
            self.failed = f"{type(exc).__name__}: {exc}"
            self.say(f"⚠ {self.failed}")
            log.exception("the drill stopped")
        finally:
            self.done.set()

    async def step(self, step: Step) -> None:
        raw = step.raw
        if "note" in raw:
            self.say(str(raw["note"]))
            return
        if "pause" in raw:
            await asyncio.sleep(float(raw["pause"]))
            return
        if "advance" in raw:
            self.clock.advance(_duration(raw["advance"], f"step {step.number}"))
            await asyncio.sleep(0.5)
            return
        if "at" in raw:
            self.clock.advance_to(self.began + _duration(raw["at"], f"step {step.number}"))
            await asyncio.sleep(0.5)
            return
        who = self._who(step)
        chat = self._chat(step, who)
        before = len(self.api.in_chat(chat))
        if "say" in raw:
            await self.api.send_text(who, self._fill(step, str(raw["say"])), chat_id=chat, name=self.called.get(who))
        elif "tap" in raw:
            await self._tap(step, who, chat, str(raw["tap"]))
        elif "location" in raw:
            await self.api.send_location(who, *raw["location"], chat_id=chat, name=self.called.get(who))
        elif "live" in raw:
            await self.api.share_live_location(who, *raw["live"], chat_id=chat, name=self.called.get(who))
        elif "photo" in raw:
            file_id = f"ph{len(self.api.files) + 1}"
            self.api.file_names[file_id] = str(raw["photo"])
            await self.api.send_photo(who, file_id, None, PICTURE, chat_id=chat, name=self.called.get(who))
        with contextlib.suppress(AssertionError):  # some steps are answered by nothing new (a silent group)
            await self.api.settle(chat, before, quiet=0.3, timeout=SETTLE_TIMEOUT)

    def _fill(self, step: Step, text: str) -> str:
        """{incident}: the newest incident number (KB-…) the bot showed anyone."""
        if "{incident}" not in text:
            return text
        for sent in reversed(self.api.sent):
            found = INCIDENT.search(sent.text)
            if found:
                return text.replace("{incident}", found.group(0))
        raise ScenarioError(f"step {step.number}: no incident yet for {{incident}}")

    async def _tap(self, step: Step, who: int, chat: int, label: str) -> None:
        for message in sorted(self.api.messages.get(chat, {}).values(), key=lambda m: -m["message_id"]):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if label in button.get("text", "") and "callback_data" in button:
                        query = f"cq-drill-{step.number}-{message['message_id']}"
                        await self.api.push(
                            {
                                "callback_query": {
                                    "id": query,
                                    "from": self.api.user(who, self.called.get(who)),
                                    "message": message,
                                    "chat_instance": str(chat),
                                    "data": button["callback_data"],
                                }
                            }
                        )
                        return
        keyboard = self.keyboards.get(chat) or {}
        for row in keyboard.get("keyboard", []):
            for button in row:
                text = button if isinstance(button, str) else button.get("text", "")
                if label in text:  # a reply keyboard's button types its label
                    await self.api.send_text(who, text, chat_id=chat, name=self.called.get(who))
                    return
        raise ScenarioError(f"step {step.number}: no button {label!r} in that chat")
