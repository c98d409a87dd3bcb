"""The duty roster on Telegram: /duty, the shift-change notice to a duty group, an import's answer."""

from __future__ import annotations

from datetime import datetime, tzinfo
from html import escape
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.clock import format_local
from bot.domain.text import N_
from bot.domain.warnings import level_label
from bot.telegram.callbacks import HandoverCb
from bot.telegram.desk import due_label
from bot.telegram.i18n import Translator
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Outgoing
from bot.usecases.roster import HandoverFlag, HandoverMade, Imported, ShiftNotice, UnitDuty
from conversations.addons import grade_label
from storage.models import Shift

KINDS = {"primary": N_("roster.kind.primary"), "secondary": N_("roster.kind.secondary")}
PROBLEMS_MAX = 30


def _people(people: list[dict[str, Any]] | None, _: Translator) -> str:
    if not people:
        return _("roster.nobody")
    return "、".join(escape(p["name"]) + (f" {escape(p['phone'])}" if p.get("phone") else "") for p in people)


def shift_lines(shift: Shift, _: Translator, tz: tzinfo) -> list[str]:
    return [
        _(
            "roster.shift",
            kind=_(KINDS.get(shift.kind, KINDS["primary"])),
            start=format_local(shift.starts_at, tz),
            end=format_local(shift.ends_at, tz),
        ),
        _("roster.leaders", people=_people(shift.leaders, _)),
        _("roster.officers", people=_people(shift.officers, _)),
    ]


def duty_text(board: list[UnitDuty], _: Translator, tz: tzinfo) -> str:
    if not any(u.now or u.next for u in board):
        return _("roster.none")
    lines = [_("roster.title")]
    for unit in board:
        if not unit.now and not unit.next:
            continue
        lines += ["", f"<b>{escape(unit.unit)}</b>"]
        if unit.now:
            lines.append(_("roster.now"))
            for s in unit.now:
                lines += shift_lines(s, _, tz)
        else:
            lines.append(_("roster.now_none"))
        for s in unit.next[:2]:
            lines.append(_("roster.next"))
            lines += shift_lines(s, _, tz)
    return "\n".join(lines)


def shift_notice(notice: ShiftNotice, _: Translator, tz: tzinfo) -> Outgoing:
    text = "\n".join([_("roster.handover", unit=escape(notice.unit)), *shift_lines(notice.shift, _, tz)])
    return Outgoing("send_message", {"chat_id": notice.chat_id, "text": text}, priority=Priority.ALERT)


def import_text(result: Imported, _: Translator) -> str:
    if not result.problems:
        return _("roster.imported", shifts=result.shifts, units=result.units)
    lines = [_("roster.rejected", n=len(result.problems))]
    for p in result.problems[:PROBLEMS_MAX]:
        reason = _(p.msgid, **{k: escape(str(v)) for k, v in p.params.items()})
        lines.append(_("roster.problem", line=p.line, reason=reason) if p.line else reason)
    if len(result.problems) > PROBLEMS_MAX:
        lines.append(_("notice.more", n=len(result.problems) - PROBLEMS_MAX))
    return "\n".join(lines)


def handover_text(
    made: HandoverMade, _: Translator, tz: tzinfo, accepted_by: str | None = None, accepted_at: datetime | None = None
) -> str:
    """The handover as the duty group and the incoming officers read it."""
    h, s = made.handover, made.handover.summary
    lines = [
        _("handover.title", unit=escape(made.unit), author=escape(made.author), time=format_local(h.created_at, tz))
    ]
    opened = s["open"]
    lines.append(_("handover.open", n=opened["total"]))
    lines += [f"• <b>{i['number']}</b> {grade_label(i['grade'], _)}" for i in opened["items"]]
    lines.append(_("handover.due", n=s["due"]["total"], until=format_local(datetime.fromisoformat(s["until"]), tz)))
    lines += [_due(i, _, tz) for i in s["due"]["items"]]
    lines.append(_("handover.overdue", n=s["overdue"]["total"]))
    lines += [_due(i, _, tz) for i in s["overdue"]["items"]]
    unacked = s["unacknowledged"]
    lines.append(_("handover.unacknowledged", n=unacked["total"]))
    if unacked["items"]:
        lines.append("• " + "、".join(f"<b>{n}</b>" for n in unacked["items"]))
    if s.get("warnings"):
        lines.append(_("handover.warnings", n=len(s["warnings"])))
        lines += [
            f"• <b>{w['number']}</b> {escape(str(w.get('event') or ''))} {level_label(w['level'], _)}"
            + (_("warning.drill_mark") if w.get("drill") else "")
            for w in s["warnings"]
        ]
    if h.note:
        lines.append(_("handover.note", note=escape(h.note)))
    if accepted_by:
        lines.append(
            _(
                "handover.accepted_by",
                who=escape(accepted_by),
                time=format_local(accepted_at, tz) if accepted_at else "-",
            )
        )
    return "\n".join(lines)


def _due(item: dict[str, Any], _: Translator, tz: tzinfo) -> str:
    due = due_label(item["due"], int(item["seq"] or 0), _)
    time = format_local(datetime.fromisoformat(item["due_at"]), tz)
    return _("handover.due_item", number=item["number"], due=due, time=time, reporter=escape(item["reporter"]))


def handover_markup(handover_id: int, _: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("handover.button.accept"), callback_data=HandoverCb(h=handover_id).pack())]
        ]
    )


def handover_flag(flag: HandoverFlag, _: Translator, tz: tzinfo) -> Outgoing:
    text = _(
        "handover.missing", unit=escape(flag.unit), start=format_local(flag.start, tz), end=format_local(flag.end, tz)
    )
    return Outgoing("send_message", {"chat_id": flag.chat_id, "text": text}, priority=Priority.ALERT)
