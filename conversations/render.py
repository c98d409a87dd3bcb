"""Presentation of a draft: prompt, review and confirmation screens as text and button rows. Pure.

Text is Telegram HTML: every answer the user typed is escaped here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from html import escape
from typing import Any

from bot.domain.grading import GRADE_LABELS, Grade
from bot.domain.text import N_
from conversations.engine import (
    CANCEL,
    CASUALTY_LABELS,
    GRADE,
    GRADE_REASON,
    NAV_LABELS,
    QUICK_TIMES,
    REVIEW,
    Context,
    Engine,
    Outcome,
)
from conversations.form import Field, Kind

Tr = Callable[..., str]
MEDIA_LABELS = {
    "photo": N_("media.photo"),
    "video": N_("media.video"),
    "voice": N_("media.voice"),
    "audio": N_("media.audio"),
    "document": N_("media.document"),
    "video_note": N_("media.video"),
}
QUICK_TIME_LABELS = {0: N_("quick.now"), 30: N_("quick.30m"), 60: N_("quick.1h"), 120: N_("quick.2h")}


@dataclass(frozen=True)
class Button:
    label: str
    action: str
    value: str = ""


@dataclass
class View:
    text: str
    rows: list[list[Button]] = field(default_factory=list)
    step: int = 0
    reply_keyboard: bool = False  # rows are reply-keyboard buttons (typed back as text)
    request_location: str | None = None  # label of the share-location button


def _locale(tr: Tr) -> str:
    return str(getattr(tr, "locale", "zh_Hans"))


def join(items: list[str], tr: Tr) -> str:
    """A list in the reader's language: 甲、乙 / A, B."""
    return tr("value.separator").join(items)


def format_money(amount: int, tr: Tr) -> str:
    if _locale(tr).startswith("zh"):
        if amount >= 10**8:
            text = f"{amount / 10**8:.4f}".rstrip("0").rstrip(".") + "亿"
        elif amount >= 10**4:
            text = f"{amount / 10**4:.4f}".rstrip("0").rstrip(".") + "万"
        else:
            text = str(amount)
    else:
        text = f"{amount:,}"
    return tr("value.money", amount=text)


def format_time(iso: str, tz: tzinfo) -> str:
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def format_casualties(value: Mapping[str, Any], tr: Tr) -> str:
    unknown = tr("value.unknown")
    parts = []
    for key in ("deaths", "missing", "serious", "injured", "trapped"):
        figure = value.get(key)
        parts.append(f"{tr(CASUALTY_LABELS[key])} {unknown if figure is None else figure}")
    return " · ".join(parts)


def map_link(lat: float, lon: float) -> str:
    """AMap (reachable in China); Telegram coordinates are WGS-84, which the URI says."""
    return f"https://uri.amap.com/marker?position={lon:.6f},{lat:.6f}&coordinate=wgs84"


def format_value(f: Field, value: Any, answers: Mapping[str, Any], tr: Tr, tz: tzinfo) -> str:
    """One answer as escaped HTML."""
    if value is None or value == [] or value == {}:
        return tr("value.none")
    if f.kind is Kind.DATETIME:
        return format_time(value, tz)
    if f.kind is Kind.LOCATION:
        parts = [escape(value["text"])] if value.get("text") else []
        if "lat" in value:
            lat, lon = value["lat"], value["lon"]
            parts.append(f'📍 <a href="{escape(map_link(lat, lon))}">{lat:.5f}, {lon:.5f}</a>')
        return " ".join(parts)
    if f.kind is Kind.CHOICE:
        labels = {o.value: o.label for o in f.options_for(answers)}
        return escape(tr(labels[value])) if value in labels else escape(str(value))
    if f.kind is Kind.MULTI_CHOICE:
        labels = {o.value: o.label for o in f.options_for(answers)}
        chosen = [tr(labels[v]) for v in value.get("selected", []) if v in labels]
        if value.get("other"):
            chosen.append(value["other"])
        return escape(join(chosen, tr)) if chosen else tr("value.none")
    if f.kind is Kind.CASUALTIES:
        return format_casualties(value, tr)
    if f.kind is Kind.MONEY:
        return tr("value.unknown") if value == "unknown" else format_money(int(value), tr)
    if f.kind is Kind.INTEGER:
        return str(value)
    if f.kind is Kind.CONTACT:
        return escape(f"{value['name']} {value['phone']}")
    if f.kind is Kind.ATTACHMENTS:
        counts: dict[str, int] = {}
        for item in value:
            counts[item["kind"]] = counts.get(item["kind"], 0) + 1
        return join([f"{tr(MEDIA_LABELS.get(k, 'media.document'))} ×{n}" for k, n in counts.items()], tr)
    return escape(str(value))


def grade_label(grade: str | None, tr: Tr) -> str:
    return tr(GRADE_LABELS[Grade(grade)]) if grade else tr("value.none")


def nav_label(tr: Tr, action: str) -> str:
    return tr(NAV_LABELS[action])


def _nav(engine: Engine, f: Field, tr: Tr) -> list[Button]:
    row = [Button(nav_label(tr, "back"), "back")]
    if not f.required:
        row.append(Button(nav_label(tr, "skip"), "skip"))
    row.append(Button(nav_label(tr, "cancel"), "cancel"))
    return row


def render(engine: Engine, draft: Mapping[str, Any], ctx: Context, tr: Tr, outcome: Outcome | None = None) -> View:
    """The screen for the draft's current mode, with the outcome's notice on top."""
    notice = ""
    if outcome is not None and outcome.notice is not None:
        msgid, params = outcome.notice
        icon = "⚠️ " if outcome.is_error else "✓ "
        notice = icon + tr(msgid, **{k: escape(str(v)) for k, v in params.items()}) + "\n\n"
    mode = draft["mode"]
    if mode == "review":
        view = _review(engine, draft, ctx, tr)
    elif mode == "cancel":
        view = View(
            tr("form.cancel_confirm"),
            [[Button(nav_label(tr, "cancel_yes"), "cancel_yes"), Button(nav_label(tr, "cancel_no"), "cancel_no")]],
            step=CANCEL,
        )
    elif mode == "grade":
        suggested = engine.suggested_grade(draft["answers"])
        rows = [[Button(grade_label(g, tr), "set_grade", g)] for g in engine.grade_options()]
        rows.append([Button(nav_label(tr, "back"), "back")])
        view = View(tr("form.grade_choose", suggested=grade_label(suggested, tr)), rows, step=GRADE)
    elif mode == "grade_reason":
        view = View(
            tr("form.grade_reason", grade=grade_label(draft.get("pending_grade"), tr)),
            [[Button(nav_label(tr, "back"), "back"), Button(nav_label(tr, "cancel"), "cancel")]],
            step=GRADE_REASON,
        )
    else:
        view = _prompt(engine, draft, ctx, tr)
    view.text = notice + view.text
    return view


def _prompt(engine: Engine, draft: Mapping[str, Any], ctx: Context, tr: Tr) -> View:
    f = engine.form.field(draft["cursor"])
    answers = draft["answers"]
    step, total = engine.position(draft)
    lines = [
        tr("form.step", title=tr(engine.form.title), step=step, total=total, label=tr(f.label)),
        tr(f.prompt),
    ]
    if not f.required:
        lines.append(tr("form.optional"))
    if f.id in answers and answers[f.id] not in (None, [], {}):
        lines.append(tr("form.current", value=format_value(f, answers[f.id], answers, tr, ctx.tz)))
    rows: list[list[Button]] = []
    view = View("", rows, step=engine.step_code(draft))
    if f.kind is Kind.CHOICE:
        options = f.options_for(answers)
        for i in range(0, len(options), 2):
            rows.append(
                [Button(f"{j + 1}. {tr(o.label)}", "choose", o.value) for j, o in enumerate(options[i : i + 2], i)]
            )
    elif f.kind is Kind.MULTI_CHOICE:
        selected = (answers.get(f.id) or {}).get("selected", [])
        for o in f.options_for(answers):
            mark = "✅ " if o.value in selected else "▫️ "
            rows.append([Button(mark + tr(o.label), "toggle", o.value)])
        rows.append([Button(nav_label(tr, "done"), "done")])
    elif f.kind is Kind.DATETIME:
        quick = [Button(tr(QUICK_TIME_LABELS[m]), "quick", str(m)) for m in QUICK_TIMES]
        rows += [quick[:2], quick[2:], [Button(tr("quick.other"), "quick", "other")]]
    elif f.kind is Kind.CASUALTIES:
        rows.append(
            [Button(tr("quick.no_casualties"), "quick", "none"), Button(tr("quick.unknown"), "quick", "unknown")]
        )
    elif f.kind is Kind.MONEY:
        rows.append([Button(tr("quick.unknown"), "quick", "unknown")])
    elif f.kind is Kind.CONTACT:
        contact = ctx.profile.get(f.prefill or "")
        if contact:
            rows.append([Button(tr("button.confirm_contact", name=contact["name"], phone=contact["phone"]), "prefill")])
    elif f.kind is Kind.ATTACHMENTS:
        rows.append([Button(nav_label(tr, "done"), "done")])
    if f.kind is Kind.LOCATION:
        view.reply_keyboard = True
        view.request_location = tr("button.share_location")
        if answers.get(f.id):
            rows.append([Button(nav_label(tr, "done"), "done")])
    rows.append(_nav(engine, f, tr))
    view.text = "\n".join(lines)
    return view


def summary_lines(engine: Engine, answers: Mapping[str, Any], tr: Tr, tz: tzinfo) -> list[str]:
    return [
        f"{i}. <b>{tr(f.label)}</b>：{format_value(f, answers.get(f.id), answers, tr, tz)}"
        for i, f in enumerate(engine.form.visible(answers), 1)
    ]


def _review(engine: Engine, draft: Mapping[str, Any], ctx: Context, tr: Tr) -> View:
    answers = draft["answers"]
    lines = [tr("form.review_title", title=tr(engine.form.title)), ""]
    lines += summary_lines(engine, answers, tr, ctx.tz)
    rows: list[list[Button]] = []
    if engine.form.suggest_grade is not None:
        suggested = engine.suggested_grade(answers)
        lines += ["", tr("form.grade_suggested", grade=grade_label(suggested, tr))]
        override = draft.get("grade")
        if override:
            lines.append(
                tr("form.grade_override", grade=grade_label(override["value"], tr), reason=escape(override["reason"]))
            )
    visible = engine.form.visible(answers)
    edits = [Button(f"✏️ {i}. {tr(f.label)}", "edit", f.id) for i, f in enumerate(visible, 1)]
    rows += [edits[i : i + 2] for i in range(0, len(edits), 2)]
    if engine.form.suggest_grade is not None:
        rows.append([Button(tr("button.change_grade"), "grade")])
    rows.append([Button(nav_label(tr, "submit"), "submit"), Button(nav_label(tr, "cancel"), "cancel")])
    return View("\n".join(lines), rows, step=REVIEW)
