"""Field kinds: each knows how to read what a person sends (typed text, buttons, a location, a photo),
how to show an answer, which buttons its prompt offers, and its own limits per field. Pure.

A kind returns a `Change` (the new answer, and whether the form moves on), a `Notice` (nothing
changes, something to say) or an `Invalid` (the reason, from the catalogs). `None` from `on_event`
means "not this kind of input"; from `on_action`, "not a button of this screen".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any, ClassVar

from bot.domain.clock import format_local
from bot.domain.text import N_
from conversations import parsers as p
from conversations.events import Contact, Event, Location, Media
from conversations.form import Answers, Env, Option, Scope
from conversations.formatting import (
    CASUALTY_LABELS,
    MEDIA_LABELS,
    format_casualties,
    format_money,
    join,
    map_link,
)
from conversations.view import Button

Options = tuple[Option, ...] | Callable[[Answers, Env], tuple[Option, ...]]


@dataclass(frozen=True)
class Change:
    value: Any
    advance: bool = True
    notice: tuple[str, dict[str, Any]] | None = None


@dataclass(frozen=True)
class Notice:
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)


Result = Change | Notice | p.Invalid


class FieldKind:
    name: ClassVar[str]
    expects: ClassVar[str]  # catalog id: "please send …", for input of the wrong type
    has_done: ClassVar[bool] = False  # collects several inputs, finished with the Done button
    max_length: int = 2000  # typed input longer than this is refused before parsing

    def answered(self, value: Any) -> bool:
        return value not in (None, [], {})

    def on_text(self, text: str, current: Any, scope: Scope) -> Result:
        raise NotImplementedError

    def on_event(self, event: Event, current: Any, scope: Scope) -> Result | None:
        return None

    def on_action(self, name: str, value: str, current: Any, scope: Scope) -> Result | None:
        return None

    def buttons(self, current: Any, scope: Scope) -> list[list[Button]]:
        return []

    def render(self, value: Any, scope: Scope) -> str:
        return escape(str(value))

    def reply_keyboard(self, current: Any, scope: Scope) -> str | None:
        """The label of a share-location reply button, for kinds that need one."""
        return None

    def limits(self) -> dict[str, Any]:
        """This field's limits, for `python -m bot forms`."""
        return {"max_length": self.max_length}


def _options(options: Options, scope: Scope) -> tuple[Option, ...]:
    return options(scope.answers, scope.env) if callable(options) else options


def match_options(text: str, options: tuple[Option, ...], scope: Scope) -> list[str]:
    """A typed answer to a choice: the option's number, its label or code, or a unique part of a label."""
    typed = p.normalize(text).rstrip(".。")
    if typed.isdigit() and 1 <= int(typed) <= len(options):
        return [options[int(typed) - 1].value]
    exact = [o.value for o in options if typed in (p.normalize(scope.label(o)), o.value)]
    if exact:
        return exact
    return [o.value for o in options if typed and typed in p.normalize(scope.label(o))]


def choice_error(options: tuple[Option, ...], scope: Scope) -> p.Invalid:
    listing = " / ".join(f"{i}. {scope.label(o)}" for i, o in enumerate(options, 1))
    return p.Invalid(N_("error.choice_unknown"), {"options": listing})


@dataclass(frozen=True)
class FreeText(FieldKind):
    max_length: int = 2000
    name: ClassVar[str] = "text"
    expects: ClassVar[str] = N_("expects.text")

    def on_text(self, text: str, current: Any, scope: Scope) -> Result:
        return Change(text.strip())


@dataclass(frozen=True)
class Choice(FieldKind):
    options: Options = ()
    name: ClassVar[str] = "choice"
    expects: ClassVar[str] = N_("expects.choice")
    max_length: int = 200

    def options_for(self, scope: Scope) -> tuple[Option, ...]:
        return _options(self.options, scope)

    def on_text(self, text: str, current: Any, scope: Scope) -> Result:
        options = self.options_for(scope)
        match = match_options(text, options, scope)
        return Change(match[0]) if len(match) == 1 else choice_error(options, scope)

    def on_action(self, name: str, value: str, current: Any, scope: Scope) -> Result | None:
        if name == "choose" and value in {o.value for o in self.options_for(scope)}:
            return Change(value)
        return None

    def buttons(self, current: Any, scope: Scope) -> list[list[Button]]:
        options = self.options_for(scope)
        return [
            [Button(f"{j + 1}. {scope.label(o)}", "choose", o.value) for j, o in enumerate(options[i : i + 2], i)]
            for i in range(0, len(options), 2)
        ]

    def render(self, value: Any, scope: Scope) -> str:
        labels = {o.value: o for o in self.options_for(scope)}
        return escape(scope.label(labels[value])) if value in labels else escape(str(value))

    def limits(self) -> dict[str, Any]:
        return {"options": "computed" if callable(self.options) else [o.value for o in self.options]}


@dataclass(frozen=True)
class MultiChoice(FieldKind):
    options: Options = ()
    allow_text: bool = False  # a typed answer that matches no option is kept as "other"
    max_length: int = 300
    name: ClassVar[str] = "multi_choice"
    expects: ClassVar[str] = N_("expects.choice")
    has_done: ClassVar[bool] = True

    def answered(self, value: Any) -> bool:
        return bool(value and (value.get("selected") or value.get("other")))

    def on_text(self, text: str, current: Any, scope: Scope) -> Result:
        options = _options(self.options, scope)
        parts = [x for x in re.split(r"[,，、;；\s]+", text.strip()) if x]
        matched = [match_options(x, options, scope) for x in parts]
        if parts and all(len(m) == 1 for m in matched):
            return Change({"selected": list(dict.fromkeys(m[0] for m in matched)), "other": None})
        if self.allow_text:
            selected = (current or {}).get("selected", [])
            return Change({"selected": selected, "other": text.strip()})
        return choice_error(options, scope)

    def on_action(self, name: str, value: str, current: Any, scope: Scope) -> Result | None:
        if name != "toggle" or value not in {o.value for o in _options(self.options, scope)}:
            return None
        selected: list[str] = list((current or {}).get("selected", []))
        if value in selected:
            selected.remove(value)
        else:
            selected.append(value)
        return Change({"selected": selected, "other": (current or {}).get("other")}, advance=False)

    def buttons(self, current: Any, scope: Scope) -> list[list[Button]]:
        selected = (current or {}).get("selected", [])
        rows = [
            [Button(("✅ " if o.value in selected else "▫️ ") + scope.label(o), "toggle", o.value)]
            for o in _options(self.options, scope)
        ]
        return rows

    def render(self, value: Any, scope: Scope) -> str:
        labels = {o.value: o for o in _options(self.options, scope)}
        chosen = [scope.label(labels[v]) for v in value.get("selected", []) if v in labels]
        if value.get("other"):
            chosen.append(value["other"])
        return escape(join(chosen, scope.translate)) if chosen else scope.translate("value.none")


@dataclass(frozen=True)
class Count(FieldKind):
    """A number of people, or unknown."""

    name: ClassVar[str] = "integer_or_unknown"
    expects: ClassVar[str] = N_("expects.number")
    max_length: int = 200

    def on_text(self, text: str, current: Any, scope: Scope) -> Result:
        result = p.parse_count(text)
        return result if isinstance(result, p.Invalid) else Change(result.value)

    def render(self, value: Any, scope: Scope) -> str:
        return str(value)


CASUALTY_ERRORS: dict[str, str] = {
    "error.count_negative": N_("error.casualty_negative"),
    "error.count_decimal": N_("error.casualty_decimal"),
    "error.count_absurd": N_("error.casualty_absurd"),
    "error.count_format": N_("error.casualty_format"),
}
QUICK_WORDS = {"none": "无", "unknown": "不详"}  # one-tap answers for casualty and money fields


@dataclass(frozen=True)
class CasualtyFigures(FieldKind):
    """Deaths, missing, serious injuries, injuries, trapped in one message; figures not mentioned stay as
    they were (unknown at first, the draft's base figures in a follow-up)."""

    name: ClassVar[str] = "casualties"
    expects: ClassVar[str] = N_("expects.casualties")
    max_length: int = 500

    def on_text(self, text: str, current: Any, scope: Scope) -> Result:
        result = p.parse_casualties(text)
        if isinstance(result, p.Invalid):
            params = dict(result.params)
            if "what" not in params:
                return result
            label = CASUALTY_LABELS[params["what"]]
            params["what"] = scope.translate(label)
            return p.Invalid(CASUALTY_ERRORS.get(result.msgid, result.msgid), params)
        base = current or dict.fromkeys(p.CASUALTY_KEYS)
        return Change({**base, **result.value})

    def on_action(self, name: str, value: str, current: Any, scope: Scope) -> Result | None:
        if name == "quick" and value in QUICK_WORDS:
            return self.on_text(QUICK_WORDS[value], None, scope)
        return None

    def buttons(self, current: Any, scope: Scope) -> list[list[Button]]:
        tr = scope.translate
        return [[Button(tr("quick.no_casualties"), "quick", "none"), Button(tr("quick.unknown"), "quick", "unknown")]]

    def render(self, value: Any, scope: Scope) -> str:
        return format_casualties(value, scope.translate)


@dataclass(frozen=True)
class Money(FieldKind):
    """An amount in yuan (万 and 亿, Chinese numerals, estimates), or unknown."""

    name: ClassVar[str] = "money"
    expects: ClassVar[str] = N_("expects.money")
    max_length: int = 200

    def on_text(self, text: str, current: Any, scope: Scope) -> Result:
        result = p.parse_money(text)
        if isinstance(result, p.Invalid):
            return result
        return Change("unknown" if result.value is None else result.value)

    def on_action(self, name: str, value: str, current: Any, scope: Scope) -> Result | None:
        return Change("unknown") if name == "quick" and value == "unknown" else None

    def buttons(self, current: Any, scope: Scope) -> list[list[Button]]:
        return [[Button(scope.translate("quick.unknown"), "quick", "unknown")]]

    def render(self, value: Any, scope: Scope) -> str:
        return scope.translate("value.unknown") if value == "unknown" else format_money(int(value), scope.translate)


QUICK_TIME_LABELS = {0: N_("quick.now"), 30: N_("quick.30m"), 60: N_("quick.1h"), 120: N_("quick.2h")}
AHEAD_LABELS = {6: N_("quick.in_6h"), 12: N_("quick.in_12h"), 24: N_("quick.in_24h"), 48: N_("quick.in_48h")}


@dataclass(frozen=True)
class DateTime(FieldKind):
    """A moment, typed in Chinese or English or tapped (minutes ago), inside this field's window."""

    window: p.Window = p.OCCURRENCE
    quick: tuple[int, ...] = (0, 30, 60, 120)  # minutes ago offered as buttons
    ahead: tuple[int, ...] = ()  # hours from now offered as buttons (an expected end)
    name: ClassVar[str] = "datetime"
    expects: ClassVar[str] = N_("expects.datetime")
    max_length: int = 200

    def on_text(self, text: str, current: Any, scope: Scope) -> Result:
        result = p.parse_datetime(text, scope.now, scope.tz, self.window)
        return result if isinstance(result, p.Invalid) else Change(result.value.astimezone(UTC).isoformat())

    def on_action(self, name: str, value: str, current: Any, scope: Scope) -> Result | None:
        if name == "ahead" and value.isdigit() and int(value) in self.ahead:
            return Change(
                (scope.now + timedelta(hours=int(value))).replace(second=0, microsecond=0).astimezone(UTC).isoformat()
            )
        if name != "quick":
            return None
        if value == "other":
            return Notice(N_("hint.time_formats"))
        if not value.isdigit() or int(value) not in self.quick:
            return None
        return Change((scope.now - timedelta(minutes=int(value))).astimezone(UTC).isoformat())

    def buttons(self, current: Any, scope: Scope) -> list[list[Button]]:
        tr = scope.translate
        quick = [Button(tr(QUICK_TIME_LABELS[m]), "quick", str(m)) for m in self.quick if m in QUICK_TIME_LABELS]
        quick += [Button(tr(AHEAD_LABELS[h]), "ahead", str(h)) for h in self.ahead if h in AHEAD_LABELS]
        rows = [quick[i : i + 2] for i in range(0, len(quick), 2)]
        return [*rows, [Button(tr("quick.other"), "quick", "other")]]

    def render(self, value: Any, scope: Scope) -> str:
        return format_local(datetime.fromisoformat(value), scope.tz)

    def limits(self) -> dict[str, Any]:
        w = self.window
        return {
            "past": None if w.past is None else int(w.past.total_seconds()),
            "future": None if w.future is None else int(w.future.total_seconds()),
        }


@dataclass(frozen=True)
class Place(FieldKind):
    """Text and/or coordinates (a shared location, a venue with its name and address, a live location)."""

    max_length: int = 500
    name: ClassVar[str] = "location"
    expects: ClassVar[str] = N_("expects.location")
    has_done: ClassVar[bool] = True

    def on_text(self, text: str, current: Any, scope: Scope) -> Result:
        return Change({**(current or {}), "text": text.strip()})

    def on_event(self, event: Event, current: Any, scope: Scope) -> Result | None:
        if not isinstance(event, Location):
            return None
        if not (-90 <= event.lat <= 90 and -180 <= event.lon <= 180):
            return p.Invalid(N_("error.location_invalid"))
        value = {**(current or {}), "lat": event.lat, "lon": event.lon}
        if event.title or event.address:
            venue = " ".join(x for x in (event.title, event.address) if x)[: self.max_length]
            value["venue"] = {"title": (event.title or "")[:200], "address": (event.address or "")[:300]}
            value.setdefault("text", venue)
        if value.get("text"):
            return Change(value)
        msgid = N_("notice.live_location_received") if event.live else N_("notice.location_received")
        return Change(value, advance=False, notice=(msgid, {}))

    def render(self, value: Any, scope: Scope) -> str:
        parts = [escape(value["text"])] if value.get("text") else []
        if "lat" in value:
            lat, lon = value["lat"], value["lon"]
            parts.append(f'📍 <a href="{escape(map_link(lat, lon))}">{lat:.5f}, {lon:.5f}</a>')
        return " ".join(parts)

    def reply_keyboard(self, current: Any, scope: Scope) -> str | None:
        return scope.translate("button.share_location")


@dataclass(frozen=True)
class Person(FieldKind):
    """A name and a phone number: typed, a shared contact, or the profile's in one tap (field.prefill)."""

    name: ClassVar[str] = "contact"
    expects: ClassVar[str] = N_("expects.contact")
    max_length: int = 200

    def on_text(self, text: str, current: Any, scope: Scope) -> Result:
        result = p.parse_contact(text)
        return result if isinstance(result, p.Invalid) else Change(result.value)

    def on_event(self, event: Event, current: Any, scope: Scope) -> Result | None:
        if not isinstance(event, Contact):
            return None
        name = p.strip_invisible(event.name).strip()[:100]
        if not name or not event.phone.strip():
            return p.Invalid(N_("error.contact_format"))
        return Change({"name": name, "phone": event.phone.strip()[:32]})

    def render(self, value: Any, scope: Scope) -> str:
        return escape(f"{value['name']} {value['phone']}")


@dataclass(frozen=True)
class Attachments(FieldKind):
    """Photos, videos, voice notes and files, each kept once (by Telegram's unique file id)."""

    max_items: int = 10
    name: ClassVar[str] = "attachments"
    expects: ClassVar[str] = N_("expects.attachments")
    has_done: ClassVar[bool] = True

    def on_text(self, text: str, current: Any, scope: Scope) -> Result:
        return p.Invalid(N_("error.wrong_type"), {"expected": scope.translate(self.expects)})

    def add(self, event: Media, current: Any) -> Result:
        items = list(current or [])
        if any(i["file_unique_id"] == event.file_unique_id for i in items):
            return Change(items, advance=False, notice=(N_("notice.attachment_added"), {"count": len(items)}))
        if len(items) >= self.max_items:
            return p.Invalid(N_("error.attachments_full"), {"max": self.max_items})
        items.append({"kind": event.kind, "file_id": event.file_id, "file_unique_id": event.file_unique_id})
        return Change(items, advance=False, notice=(N_("notice.attachment_added"), {"count": len(items)}))

    def on_event(self, event: Event, current: Any, scope: Scope) -> Result | None:
        return self.add(event, current) if isinstance(event, Media) else None

    def render(self, value: Any, scope: Scope) -> str:
        counts: dict[str, int] = {}
        for item in value:
            counts[item["kind"]] = counts.get(item["kind"], 0) + 1
        tr = scope.translate
        return join([f"{tr(MEDIA_LABELS.get(k, 'media.document'))} ×{n}" for k, n in counts.items()], tr)

    def limits(self) -> dict[str, Any]:
        return {"max_items": self.max_items}


# The registry: every kind by name (forms, the printed listing and the diagram refer to these names).
KINDS: Mapping[str, type[FieldKind]] = {
    k.name: k
    for k in (FreeText, Choice, MultiChoice, Count, CasualtyFigures, Money, DateTime, Place, Person, Attachments)
}
