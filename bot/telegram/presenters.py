"""Use-case results as Telegram HTML in the reader's language: incident cards (alerts) and messages."""

from __future__ import annotations

from datetime import datetime, tzinfo
from html import escape
from typing import Any

from bot.domain.categories import BY_CODE, subtype_label
from bot.domain.clock import format_local
from bot.domain.grading import Grade
from bot.telegram.i18n import Catalogs, Translator
from bot.usecases.common import Card, Say
from conversations.addons import grade_label
from conversations.formatting import CASUALTY_LABELS, format_casualties, format_money, join, map_link

SUMMARY_MAX = 300


def category_text(category: str, subtype: str | None, _: Translator) -> str:
    found = BY_CODE.get(category)
    text = _(found.label) if found else category
    sub = subtype_label(category, subtype or "")
    return f"{text} / {_(sub)}" if sub else text


def grade_text(grade: str, suggested: str, _: Translator) -> str:
    text = grade_label(grade, _)
    if grade != suggested:
        return _("alert.grade_overridden", grade=text, suggested=grade_label(suggested, _))
    return text


def alert_text(card: Card, _: Translator, tz: tzinfo) -> str:
    """A duty-group alert: number, grade, category, time, place with a map link, casualties, loss,
    summary, reporter; and who acknowledged it."""
    place = escape(card.place or "")
    if card.lat is not None and card.lon is not None:
        link, label = escape(map_link(card.lat, card.lon)), _("alert.map")
        place = f'{place} <a href="{link}">{label}</a>'.strip()
    summary = card.description if len(card.description) <= SUMMARY_MAX else card.description[:SUMMARY_MAX] + "…"
    followup = card.kind == "followup"
    if card.kind == "final":
        title = _("alert.title_final", number=card.number)
    elif followup:
        title = _("alert.title_followup", number=card.number, n=card.seq)
    elif card.kind == "flash":
        title = _("alert.title_flash", number=card.number)
    elif card.kind == "phone":
        title = _("alert.title_phone", number=card.number)
    else:
        title = _("alert.title", number=card.number)
    lines = [
        title,
        _("alert.grade", grade=grade_text(card.grade, card.suggested_grade, _)),
        _("alert.category", category=escape(category_text(card.category, card.subtype, _))),
        _("alert.time", time=format_local(card.occurred_at, tz)),
        _("alert.place", place=place or _("value.none")),
        _("alert.casualties", casualties=format_casualties(card.casualties, _)),
    ]
    if card.loss is not None:
        lines.append(_("alert.loss", loss=format_money(card.loss, _)))
    if card.changes:
        lines.append(_("alert.changes", changes=changes_text(card, _)))
    if followup:
        lines.append(_("alert.situation", summary=escape(summary)))
    elif card.kind == "final":
        lines.append(_("alert.handling", summary=escape(summary)))
    else:
        lines.append(_("alert.summary", summary=escape(summary)))
    lines.append(
        _(
            "alert.reporter",
            name=escape(card.reporter_name),
            phone=escape(card.reporter_phone or "-"),
            unit=escape(card.unit_name),
        )
    )
    if card.late:
        lines.append(_("alert.late", due=format_local(card.initial_due_at, tz)))
    if card.grade in (Grade.I, Grade.II):
        lines.append(_("alert.major"))
    if card.status == "handled":
        lines.append(_("alert.status_handled"))
    elif card.status == "closed":
        lines.append(_("alert.status_closed"))
    if card.acknowledged:
        who = join([f"{escape(name)} {at.astimezone(tz):%H:%M}" for name, at in card.acknowledged], _)
        lines += ["", _("alert.acknowledged_by", who=who)]
    return "\n".join(lines)


def _figure(key: str, value: int | None, _: Translator) -> str:
    if value is None:
        return _("value.unknown")
    return format_money(value, _) if key == "loss" else str(value)


def changes_text(card: Card, _: Translator) -> str:
    """What a follow-up changed: 死亡 2 → 3；失踪 4 → 1（更正：…）."""
    parts = []
    for key, before, now in card.changes:
        label = _("field.loss.label") if key == "loss" else _(CASUALTY_LABELS.get(key, key))
        text = f"{label} {_figure(key, before, _)} → {_figure(key, now, _)}"
        if card.correction and isinstance(before, int) and isinstance(now, int) and now < before:
            text += _("alert.corrected", note=escape(card.correction))
        parts.append(text)
    return _("value.separator").join(parts)


def _value(value: Any, tz: tzinfo) -> str:
    if isinstance(value, datetime):
        return format_local(value, tz)
    return escape(str(value))


def say_text(say: Say, catalogs: Catalogs, tz: tzinfo) -> str:
    """A use case's message in the recipient's language, values escaped, the incident card below it."""
    _ = catalogs.translator(say.locale or catalogs.default_locale)
    text = _(say.msgid, **{k: _value(v, tz) for k, v in say.params.items()})
    return text + "\n\n" + alert_text(say.card, _, tz) if say.card is not None else text
