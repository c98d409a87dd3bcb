"""Texts about stored incidents (alerts, confirmations), as escaped Telegram HTML."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from html import escape

from bot.domain.categories import BY_CODE, subtype_label
from bot.domain.grading import Grade
from bot.i18n import Translator
from conversations.render import format_casualties, format_money, grade_label, join, map_link
from storage.models import Acknowledgement, Incident, Unit, User

SUMMARY_MAX = 300


def local(dt: datetime, tz: tzinfo) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def category_text(incident: Incident, _: Translator) -> str:
    category = BY_CODE.get(incident.category)
    text = _(category.label) if category else incident.category
    sub = subtype_label(incident.category, incident.subtype or "")
    return f"{text} / {_(sub)}" if sub else text


def grade_text(incident: Incident, _: Translator) -> str:
    text = grade_label(incident.grade, _)
    if incident.grade != incident.suggested_grade:
        return _("alert.grade_overridden", grade=text, suggested=grade_label(incident.suggested_grade, _))
    return text


def alert_text(
    incident: Incident,
    reporter: User,
    unit: Unit,
    description: str,
    acks: Sequence[tuple[Acknowledgement, User]],
    _: Translator,
    tz: tzinfo,
    late: bool,
) -> str:
    place = escape(incident.place_text or "")
    if incident.latitude is not None and incident.longitude is not None:
        link, label = escape(map_link(incident.latitude, incident.longitude)), _("alert.map")
        place = f'{place} <a href="{link}">{label}</a>'.strip()
    casualties = {
        "deaths": incident.deaths, "missing": incident.missing, "serious": incident.serious_injuries,
        "injured": incident.injuries, "trapped": incident.trapped,
    }  # fmt: skip
    summary = description if len(description) <= SUMMARY_MAX else description[:SUMMARY_MAX] + "…"
    lines = [
        _("alert.title", number=incident.number),
        _("alert.grade", grade=grade_text(incident, _)),
        _("alert.category", category=escape(category_text(incident, _))),
        _("alert.time", time=local(incident.occurred_at, tz)),
        _("alert.place", place=place or _("value.none")),
        _("alert.casualties", casualties=format_casualties(casualties, _)),
    ]
    if incident.loss_cny is not None:
        lines.append(_("alert.loss", loss=format_money(incident.loss_cny, _)))
    lines.append(_("alert.summary", summary=escape(summary)))
    lines.append(
        _("alert.reporter", name=escape(reporter.name), phone=escape(reporter.phone or "-"), unit=escape(unit.name))
    )
    if late:
        lines.append(_("alert.late", due=local(incident.initial_due_at, tz)))
    if incident.grade in (Grade.I, Grade.II):
        lines.append(_("alert.major"))
    if acks:
        who = join([f"{escape(u.name)} {a.at.astimezone(tz):%H:%M}" for a, u in acks], _)
        lines += ["", _("alert.acknowledged_by", who=who)]
    return "\n".join(lines)
