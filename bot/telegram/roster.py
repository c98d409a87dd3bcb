"""The duty roster on Telegram: /duty, the shift-change notice to a duty group, an import's answer."""

from __future__ import annotations

from datetime import tzinfo
from html import escape
from typing import Any

from bot.domain.clock import format_local
from bot.domain.text import N_
from bot.telegram.i18n import Translator
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Outgoing
from bot.usecases.roster import Imported, ShiftNotice, UnitDuty
from storage.models import Shift

KINDS = {"primary": N_("roster.kind.primary"), "secondary": N_("roster.kind.secondary")}
PROBLEMS_MAX = 30


def _people(people: list[dict[str, Any]] | None, _: Translator) -> str:
    if not people:
        return _("roster.nobody")
    return "、".join(escape(p["name"]) + (f" {escape(p['phone'])}" if p.get("phone") else "") for p in people)


def shift_lines(shift: Shift, _: Translator, tz: tzinfo) -> list[str]:
    return [
        _("roster.shift", kind=_(KINDS.get(shift.kind, KINDS["primary"])), start=format_local(shift.starts_at, tz),
          end=format_local(shift.ends_at, tz)),
        _("roster.leaders", people=_people(shift.leaders, _)),
        _("roster.officers", people=_people(shift.officers, _)),
    ]  # fmt: skip


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
