"""The duty desk's answers on Telegram: one message each, readable on a phone, paginated with buttons."""

from __future__ import annotations

from datetime import datetime, tzinfo
from html import escape
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.clock import format_local
from bot.domain.clocks import DUE_LABELS, Due
from bot.domain.text import N_
from bot.telegram.callbacks import PageCb
from bot.telegram.i18n import Translator
from bot.telegram.presenters import category_text
from bot.usecases.desk import DailySummary, Ledger, Page, Timeline
from conversations.addons import GRADE_CHOICES, grade_label
from conversations.formatting import format_span, join

REPORT_KINDS = {"initial": N_("deadline.initial"), "flash": N_("report.kind.flash"), "phone": N_("report.kind.phone"),
                "followup": N_("deadline.followup"), "final": N_("deadline.final")}  # fmt: skip
STATES = {"open": N_("desk.state.open"), "handled": N_("desk.state.handled"), "closed": N_("desk.state.closed")}


def due_label(due: str, seq: int, _: Translator) -> str:
    if due == Due.FOLLOWUP and seq > 0:
        return _("due.followup_n", n=seq)
    return _(DUE_LABELS[Due(due)]) if due in set(Due) else due


def _deadline(at: datetime | None, now: datetime, _: Translator, tz: tzinfo) -> str:
    if at is None:
        return _("desk.no_deadline")
    left = (at - now).total_seconds()
    if left < 0:
        return _("desk.due_overdue", time=format_local(at, tz), late=format_span(-left, _))
    return _("desk.due_left", time=format_local(at, tz), left=format_span(left, _))


def pager(page: Page, _: Translator) -> InlineKeyboardMarkup | None:
    if page.pages <= 1:
        return None
    row = []
    if page.page > 0:
        row.append(InlineKeyboardButton(text=_("desk.prev"), callback_data=PageCb(q=page.kind, p=page.page - 1).pack()))
    row.append(
        InlineKeyboardButton(
            text=f"{page.page + 1}/{page.pages}", callback_data=PageCb(q=page.kind, p=page.page).pack()
        )
    )
    if page.page + 1 < page.pages:
        row.append(InlineKeyboardButton(text=_("desk.next"), callback_data=PageCb(q=page.kind, p=page.page + 1).pack()))
    return InlineKeyboardMarkup(inline_keyboard=[row])


def incident_line(i: int, row: dict[str, Any], now: datetime, _: Translator, tz: tzinfo) -> str:
    overdue = row["next_due"] is not None and row["next_due"] < now
    return _(
        "desk.incident_line",
        i=i,
        mark="🔴" if overdue else "▫️",
        number=row["number"],
        grade=grade_label(row["grade"], _),
        category=category_text(row["category"], row["subtype"], _),
        place=escape((row["place"] or "-")[:40]),
        unit=escape(row["unit"]),
        age=format_span((now - row["occurred_at"]).total_seconds(), _),
        next=_deadline(row["next_due"], now, _, tz),
    )


def page_text(page: Page, now: datetime, _: Translator, tz: tzinfo) -> str:
    start = page.page * 10
    if page.kind == "overdue":
        if not page.total:
            return _("desk.overdue_none")
        lines = [_("desk.overdue_title", n=page.total)]
        for i, row in enumerate(page.rows, start + 1):
            late = format_span((now - row["due_at"]).total_seconds(), _)
            lines.append(
                _(
                    "desk.overdue_line",
                    i=i,
                    number=row["number"],
                    due=due_label(row["due"], row["seq"], _),
                    time=format_local(row["due_at"], tz),
                    late=late,
                    reporter=escape(row["reporter"]),
                    unit=escape(row["unit"]),
                )
            )
        return "\n".join(lines)
    if page.kind == "mine":
        lines = [_("desk.mine_title", n=page.total)] if page.total else [_("desk.mine_none")]
        lines += [incident_line(i, row, now, _, tz) for i, row in enumerate(page.rows, start + 1)]
        if page.due:
            lines.append(_("desk.mine_due"))
            for d in page.due[:20]:
                lines.append(
                    _(
                        "desk.due_item",
                        number=d["number"],
                        due=due_label(d["due"], d["seq"], _),
                        when=_deadline(d["due_at"], now, _, tz),
                    )
                )
        return "\n".join(lines)
    if not page.total:
        return _("desk.status_none")
    lines = [_("desk.status_title", n=page.total)]
    lines += [incident_line(i, row, now, _, tz) for i, row in enumerate(page.rows, start + 1)]
    return "\n".join(lines)


def timeline_text(t: Timeline, now: datetime, _: Translator, tz: tzinfo) -> str:
    i = t.incident
    figures = _(
        "desk.figures",
        deaths=_n(i["deaths"], _),
        missing=_n(i["missing"], _),
        serious=_n(i["serious"], _),
        injured=_n(i["injured"], _),
        trapped=_n(i["trapped"], _),
        loss=_n(i["loss"], _),
    )
    state = str(i["status"])
    label = _(STATES[state]) if state in STATES else state
    lines = [
        _("desk.timeline_title", number=i["number"], status=label),
        _(
            "desk.timeline_head",
            grade=grade_label(i["grade"], _),
            category=category_text(i["category"], i["subtype"], _),
            unit=escape(i["unit"]),
            place=escape(i["place"] or "-"),
            occurred=format_local(i["occurred_at"], tz),
        ),
        figures,
        "",
    ]
    for at, msgid, values in t.events:
        lines.append(f"{format_local(at, tz)[5:]} " + _event(msgid, values, _))
    for d in t.due:
        lines.append(
            _(
                "desk.due_item",
                number=i["number"],
                due=due_label(d["due"], d["seq"], _),
                when=_deadline(d["due_at"], now, _, tz),
            )
        )
    return "\n".join(lines)


def _n(value: Any, _: Translator) -> str:
    return _("desk.unknown") if value is None else str(value)


def _event(msgid: str, v: dict[str, Any], _: Translator) -> str:
    if msgid == "timeline.report":
        kind = _(REPORT_KINDS.get(str(v.get("kind")), "deadline.initial"))
        if v.get("kind") == "followup" and v.get("seq"):
            kind = _("due.followup_n", n=v["seq"])
        return _(msgid, kind=kind, who=escape(str(v.get("who", ""))), late=_("desk.late_mark") if v.get("late") else "")
    if msgid == "timeline.ack":
        return _(msgid, who=escape(str(v.get("who", ""))), unit=escape(str(v.get("unit", ""))))
    if msgid.startswith("timeline.dispatch"):
        late = _("dispatch.late_mark") if v.get("late") else ""
        text = {k: escape(str(v.get(k, ""))) for k in ("order", "unit", "reason")}
        return _(msgid, late=late, units=escape(join([str(u) for u in v.get("units") or []], _)), **text)
    due = due_label(str(v.get("due", "")), int(v.get("seq") or 0), _) if v.get("due") else ""
    step = v.get("step")
    grade = v.get("grade")
    graded = grade_label(grade, _) if grade in ("I", "II", "III", "IV", "ungraded") else ""
    return _(
        msgid,
        due=due,
        step=step + 1 if isinstance(step, int) else "",
        grade=graded,
        reason=escape(str(v.get("reason", ""))),
    )


def ledger_text(ledger: Ledger, _: Translator, tz: tzinfo) -> str:
    """值班台账: one line per report received, with the time received, who filed it and who acknowledged it."""
    if not ledger.rows:
        return _("ledger.none", day=ledger.day)
    lines = [_("ledger.title", day=ledger.day, n=len(ledger.rows))]
    for r in ledger.rows:
        kind = _(REPORT_KINDS.get(str(r["kind"]), REPORT_KINDS["initial"]))
        if r["kind"] == "followup" and r["seq"]:
            kind = _("due.followup_n", n=r["seq"])
        ack = (
            _("ledger.ack", who=escape(r["ack_by"]), time=format_local(r["ack_at"], tz)[11:])
            if r["ack_by"]
            else _("ledger.no_ack")
        )
        lines.append(
            _(
                "ledger.line",
                time=format_local(r["received_at"], tz)[11:],
                kind=kind,
                number=r["number"],
                unit=escape(r["unit"]),
                reporter=escape(r["reporter"]),
                ack=ack,
                late=_("desk.late_mark") if r["late"] else "",
            )
        )
    return "\n".join(lines)


def grades_text(by_grade: dict[str, int], _: Translator) -> str:
    """Incidents by grade, gravest first: 重大（Ⅱ级） 1、一般（Ⅳ级） 3."""
    return join([f"{grade_label(g, _)} {by_grade[g]}" for g in GRADE_CHOICES if by_grade.get(g)], _)


def summary_text(s: DailySummary, _: Translator) -> str:
    """值班日报: yesterday in the unit's tree, then what stands open now."""
    f = s.figures
    grades = grades_text(f["by_grade"], _)
    lines = [
        _("summary.title", day=s.day, unit=escape(s.unit)),
        _("summary.new", n=f["new"], grades=_("summary.by_grade", grades=grades) if grades else ""),
        _("summary.reports", n=f["reports"]),
        _("summary.acks", alerts=f["alerts"], acknowledged=f["acknowledged"]),
        _("summary.warnings", issued=f["warnings"], active=f["active_warnings"]),
    ]
    ordered = f.get("dispatch") or {}
    if ordered.get("units"):
        lines.append(_("summary.dispatch", **ordered))
    lines += [
        "",
        _("summary.now", open=f["open"], overdue=f["overdue"], unacknowledged=f["unacknowledged"]),
        _("summary.more"),
    ]
    return "\n".join(lines)
