"""Early warnings (domain rules §5) as data: levels, which levels need a second publisher's approval, the
CAP 1.2 mapping, what changed between two versions, and the bulletin every recipient reads. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from html import escape
from typing import Any

from bot.domain.categories import BY_CODE, subtype_label
from bot.domain.clock import format_local
from bot.domain.text import N_

Translate = Callable[..., str]


class Level(StrEnum):
    RED = "red"  # 一级, the highest
    ORANGE = "orange"
    YELLOW = "yellow"
    BLUE = "blue"


LEVELS: tuple[Level, ...] = (Level.RED, Level.ORANGE, Level.YELLOW, Level.BLUE)
RANK: dict[str, int] = {level.value: i for i, level in enumerate(LEVELS)}  # 0 goes out first
LEVEL_LABELS: dict[Level, str] = {
    Level.RED: N_("warning.level.red"),
    Level.ORANGE: N_("warning.level.orange"),
    Level.YELLOW: N_("warning.level.yellow"),
    Level.BLUE: N_("warning.level.blue"),
}
LEVEL_MARKS: dict[Level, str] = {Level.RED: "🔴", Level.ORANGE: "🟠", Level.YELLOW: "🟡", Level.BLUE: "🔵"}
SEVERITY: dict[Level, str] = {Level.RED: "Extreme", Level.ORANGE: "Severe", Level.YELLOW: "Moderate",
                              Level.BLUE: "Minor"}  # fmt: skip
LEVEL_OF_SEVERITY: dict[str, Level] = {v: k for k, v in SEVERITY.items()}
URGENCY: dict[Level, str] = {Level.RED: "Immediate", Level.ORANGE: "Immediate", Level.YELLOW: "Expected",
                             Level.BLUE: "Future"}  # fmt: skip

# only natural disasters, accidents and public-health events are pre-warned (§5)
WARNABLE: tuple[str, ...] = tuple(code for code, cat in BY_CODE.items() if cat.pre_warned)

# CAP <category> by our category and sub-type (§5: natural → Met/Geo/Env, accident → Safety/Fire/Transport/
# Infra/CBRNE/Env, health → Health)
CAP_CATEGORY: dict[tuple[str, str], str] = {
    ("natural", "flood_drought"): "Met",
    ("natural", "meteorological"): "Met",
    ("natural", "marine"): "Met",
    ("natural", "earthquake"): "Geo",
    ("natural", "geological"): "Geo",
    ("natural", "biological"): "Env",
    ("natural", "forest_fire"): "Env",
    ("accident", "industrial"): "Safety",
    ("accident", "traffic"): "Transport",
    ("accident", "public_facility"): "Infra",
    ("accident", "fire"): "Fire",
    ("accident", "environment"): "Env",
    ("accident", "nuclear"): "CBRNE",
}
CAP_CATEGORY_DEFAULT = {"natural": "Met", "accident": "Safety", "health": "Health", "social": "Security"}
# a CAP file from elsewhere names only a CAP category: the nearest of ours
FROM_CAP_CATEGORY: dict[str, tuple[str, str]] = {
    "Met": ("natural", "meteorological"),
    "Geo": ("natural", "geological"),
    "Env": ("accident", "environment"),
    "Safety": ("accident", "industrial"),
    "Fire": ("accident", "fire"),
    "Transport": ("accident", "traffic"),
    "Infra": ("accident", "public_facility"),
    "CBRNE": ("accident", "nuclear"),
    "Health": ("health", "infectious"),
    "Rescue": ("accident", "industrial"),
    "Security": ("accident", "industrial"),
    "Other": ("natural", "meteorological"),
}

# the bulletin's fields (domain rules §5), as the form stores them
FIELDS: tuple[str, ...] = ("category", "subtype", "event", "level", "area", "onset", "expires", "text", "measures",
                           "authority", "phone", "drill")  # fmt: skip
# what an adjustment may change, in the order an update lists the changes
ADJUSTABLE: tuple[str, ...] = ("level", "area", "onset", "expires", "event", "text", "measures", "phone")
CHANGE_LABELS: dict[str, str] = {
    "level": N_("warning.field.level"),
    "area": N_("warning.field.area"),
    "onset": N_("warning.field.onset"),
    "expires": N_("warning.field.expires"),
    "event": N_("warning.field.event"),
    "text": N_("warning.field.text"),
    "measures": N_("warning.field.measures"),
    "phone": N_("warning.field.phone"),
}
LONG_FIELDS = ("text", "measures")  # an update says they changed, the bulletin below shows them


@dataclass(frozen=True)
class WarningPolicy:
    """A deployment's warning rules (settings): which levels need a second publisher's approval (before
    issuing and before adjusting), when an unconfirmed recipient is reminded and when their unit's duty
    leader is told, and the overall send rate the reach estimate assumes."""

    approval_levels: frozenset[str] = frozenset({Level.RED.value, Level.ORANGE.value})
    remind_after: timedelta = timedelta(minutes=30)
    escalate_after: timedelta = timedelta(minutes=60)
    send_rate: float = 30.0

    def needs_approval(self, level: str, previous_level: str | None = None) -> bool:
        """Issuing at `level`, or adjusting a warning that was at `previous_level`."""
        return level in self.approval_levels or (previous_level is not None and previous_level in self.approval_levels)


def level_label(level: str, tr: Translate) -> str:
    return f"{LEVEL_MARKS.get(Level(level), '')}{tr(LEVEL_LABELS[Level(level)])}" if level in RANK else level


def _when(value: Any, tz: tzinfo) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_local(value, tz) if isinstance(value, datetime) else "-"


def headline(fields: Mapping[str, Any], tr: Translate) -> str:
    """暴雨红色预警 / Rainstorm: red warning."""
    level = str(fields.get("level"))
    label = tr(LEVEL_LABELS[Level(level)]) if level in RANK else level
    return tr("warning.headline", event=escape(str(fields.get("event") or "")), level=label)


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The adjustable fields that differ (in ADJUSTABLE order)."""
    return [name for name in ADJUSTABLE if (before.get(name) or None) != (after.get(name) or None)]


def change_lines(before: Mapping[str, Any], after: Mapping[str, Any], tr: Translate, tz: tzinfo) -> list[str]:
    """等级：橙色 → 红色 … (long texts are only said to have changed: the bulletin shows them)."""
    lines = []
    for name in changes(before, after):
        label = tr(CHANGE_LABELS[name])
        if name in LONG_FIELDS:
            lines.append(tr("warning.changed", field=label))
            continue
        old, new = before.get(name), after.get(name)
        if name == "level":
            old_s, new_s = level_label(str(old), tr), level_label(str(new), tr)
        elif name in ("onset", "expires"):
            old_s, new_s = _when(old, tz), _when(new, tz)
        else:
            old_s, new_s = escape(str(old or "-")), escape(str(new or "-"))
        lines.append(tr("warning.change", field=label, old=old_s, new=new_s))
    return lines


def bulletin(
    fields: Mapping[str, Any],
    number: str,
    issued_at: datetime | None,
    tr: Translate,
    tz: tzinfo,
    *,
    msg_type: str = "alert",
    refers: str | None = None,
    before: Mapping[str, Any] | None = None,
) -> str:
    """The message every recipient reads (Telegram HTML; user text escaped): issued, adjusted (what changed,
    referring to the original) or lifted."""
    level = str(fields.get("level"))
    mark = LEVEL_MARKS.get(Level(level), "") if level in RANK else ""
    lines = []
    if fields.get("drill"):
        lines.append(tr("warning.drill_banner"))
    title = headline(fields, tr)
    if msg_type == "cancel":
        lines.append(tr("warning.lifted_title", title=title, number=number, refers=refers or ""))
        if issued_at is not None:
            lines.append(tr("warning.lifted_at", time=_when(issued_at, tz)))
        lines.append(tr("warning.authority_line", authority=escape(str(fields.get("authority") or ""))))
        return "\n".join(lines)
    if msg_type == "update":
        lines.append(tr("warning.update_title", mark=mark, title=title, number=number, refers=refers or ""))
        if before is not None:
            lines += [f"• {line}" for line in change_lines(before, fields, tr, tz)]
        lines.append("")
    else:
        lines.append(tr("warning.title", mark=mark, title=title, number=number))
    cat, sub = str(fields.get("category") or ""), str(fields.get("subtype") or "")
    category = tr(BY_CODE[cat].label) if cat in BY_CODE else cat
    subtype = subtype_label(cat, sub)
    lines.append(tr("warning.line.category", category=category, subtype=tr(subtype) if subtype else "-"))
    lines.append(tr("warning.line.level", level=level_label(level, tr)))
    lines.append(tr("warning.line.area", area=escape(str(fields.get("area") or ""))))
    lines.append(
        tr("warning.line.time", onset=_when(fields.get("onset"), tz), expires=_when(fields.get("expires"), tz))
    )
    lines.append(tr("warning.line.text", text=escape(str(fields.get("text") or ""))))
    lines.append(tr("warning.line.measures", measures=escape(str(fields.get("measures") or ""))))
    authority = escape(str(fields.get("authority") or ""))
    if issued_at is not None:
        lines.append(tr("warning.line.issued", authority=authority, time=_when(issued_at, tz)))
    else:
        lines.append(tr("warning.authority_line", authority=authority))
    if fields.get("phone"):
        lines.append(tr("warning.line.phone", phone=escape(str(fields["phone"]))))
    if fields.get("drill"):
        lines.append(tr("warning.drill_banner"))
    return "\n".join(lines)


def reach_seconds(recipients: int, per_second: float, queued_before: int = 0) -> float:
    """How long until the last recipient has it, at the overall rate (one message each)."""
    return (recipients + queued_before) / per_second if per_second > 0 else 0.0
