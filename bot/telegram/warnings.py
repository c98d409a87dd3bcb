"""Early warnings on Telegram: the bulletin with its 收到 button, the approval request, the author's receipt,
the list with a publisher's buttons, the status, the progress message and the receipt reminders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from html import escape
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.clock import format_local
from bot.domain.text import N_
from bot.domain.warnings import bulletin, headline, level_label
from bot.telegram.callbacks import ReceivedCb, WarnCb
from bot.telegram.i18n import Translator
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Outgoing
from bot.usecases.warnings import Bulletin, ReceiptNotice, WarningFiled, WarningRow, WarningStatus
from conversations.formatting import format_span

LIST_MAX = 10  # warnings with buttons in one /warnings answer


def received_markup(delivery_id: int, _: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("warning.button.received"), callback_data=ReceivedCb(d=delivery_id).pack())]
        ]
    )


def bulletin_text(b: Bulletin, _: Translator, tz: tzinfo) -> str:
    return bulletin(b.fields, b.number, b.published_at, _, tz, msg_type=b.msg_type, refers=b.refers, before=b.before)


def approval_request(
    w_id: int,
    number: str,
    fields: Mapping[str, Any],
    msg_type: str,
    author: str,
    refers: str | None,
    before: Mapping[str, Any] | None,
    _: Translator,
    tz: tzinfo,
    recipients: dict[str, Any] | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    """To another publisher: the preview as recipients will see it, with Approve / Reject."""
    preview = bulletin(fields, number, None, _, tz, msg_type=msg_type, refers=refers, before=before)
    lines = [_("warning.approve_request", author=escape(author), number=number), "┄┄┄┄┄┄", preview, "┄┄┄┄┄┄"]
    if recipients:
        lines.append(
            _(
                "warning.reach",
                people=recipients.get("people", 0),
                groups=recipients.get("groups", 0),
                time=format_span(float(recipients.get("seconds", 0)), _),
            )
        )
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("warning.button.approve"), callback_data=WarnCb(a="approve", w=w_id).pack()
                ),
                InlineKeyboardButton(text=_("warning.button.reject"), callback_data=WarnCb(a="reject", w=w_id).pack()),
            ]
        ]
    )
    return "\n".join(lines), markup


def filed_lines(filed: WarningFiled, _: Translator) -> list[str]:
    """The author's receipt."""
    if not filed.created:
        return [_("warning.already_submitted", number=filed.number)]
    if filed.state == "pending":
        if filed.approvers:
            names = "、".join(escape(p.name) for p in filed.approvers[:10])
            return [_("warning.submitted_pending", number=filed.number, approvers=names)]
        return [_("warning.submitted_no_approver", number=filed.number)]
    return [_("warning.published", number=filed.number, n=filed.recipients, time=format_span(filed.seconds, _))]


def manage_markup(row: WarningRow, _: Translator) -> list[list[InlineKeyboardButton]]:
    buttons = [
        InlineKeyboardButton(text=_("warning.button.status"), callback_data=WarnCb(a="status", w=row.latest_id).pack())
    ]
    if row.state in ("active", "expired"):
        buttons.append(
            InlineKeyboardButton(
                text=_("warning.button.adjust"), callback_data=WarnCb(a="adjust", w=row.latest_id).pack()
            )
        )
    if row.state in ("active", "expired", "pending"):
        buttons.append(
            InlineKeyboardButton(text=_("warning.button.lift"), callback_data=WarnCb(a="lift", w=row.latest_id).pack())
        )
    buttons.append(InlineKeyboardButton(text="CAP", callback_data=WarnCb(a="cap", w=row.latest_id).pack()))
    return [buttons]


STATE_LABELS = {"active": N_("warning.state.active"), "expired": N_("warning.state.expired"),
                "lifted": N_("warning.state.lifted"), "pending": N_("warning.state.pending")}  # fmt: skip


def list_message(
    rows: Sequence[WarningRow], _: Translator, tz: tzinfo, manage: bool
) -> tuple[str, InlineKeyboardMarkup | None]:
    """/warnings: active first, then waiting, expired, lifted (a publisher gets buttons for each)."""
    if not rows:
        return _("warning.none"), None
    lines = [_("warning.list_title")]
    keyboard: list[list[InlineKeyboardButton]] = []
    for i, row in enumerate(rows[:LIST_MAX], 1):
        drill = _("warning.drill_mark") if row.fields.get("drill") else ""
        lines.append(
            _(
                "warning.list_item",
                i=i,
                number=row.number,
                title=headline(row.fields, _),
                level=level_label(row.level, _),
                state=_(STATE_LABELS[row.state]),
                drill=drill,
                area=escape(str(row.fields.get("area") or "")),
                expires=format_local(row.expires_at, tz),
            )
        )
        if manage:
            keyboard.append(
                [
                    InlineKeyboardButton(
                        text=f"{i}. {row.number}", callback_data=WarnCb(a="status", w=row.latest_id).pack()
                    )
                ]
            )
            keyboard += manage_markup(row, _)[0:1]
    if len(rows) > LIST_MAX:
        lines.append(_("notice.more", n=len(rows) - LIST_MAX))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=keyboard) if keyboard else None


def status_text(s: WarningStatus, _: Translator, tz: tzinfo) -> str:
    c = s.counts
    total = sum(v for k, v in c.items() if k != "received")
    lines = [
        _(
            "warning.status_title",
            number=s.number,
            title=headline(s.fields, _),
            level=level_label(str(s.fields.get("level")), _),
        )
    ]
    if s.state != "published":
        lines.append(_("warning.status_state", state=_(STATE_LABELS.get(s.state, "warning.state.pending"))))
    lines.append(
        _(
            "warning.status_counts",
            total=total,
            sent=c.get("sent", 0),
            queued=c.get("queued", 0),
            failed=c.get("failed", 0),
            unreachable=c.get("unreachable", 0),
            received=c.get("received", 0),
        )
    )
    if s.unconfirmed_units:
        units = "、".join(f"{escape(name)}（{n}）" for name, n in s.unconfirmed_units)
        lines.append(_("warning.status_unconfirmed", units=units))
    if s.finished_at is not None:
        lines.append(_("warning.status_finished", time=format_local(s.finished_at, tz)))
    return "\n".join(lines)


def progress_text(b: Bulletin, counts: Mapping[str, int], seconds_left: float, _: Translator) -> str:
    """The publisher's progress message, edited every few seconds."""
    total = sum(v for k, v in counts.items() if k != "received") or b.recipients
    done = counts.get("sent", 0) + counts.get("failed", 0) + counts.get("unreachable", 0)
    values = {
        "number": b.number,
        "sent": counts.get("sent", 0),
        "total": total,
        "failed": counts.get("failed", 0),
        "unreachable": counts.get("unreachable", 0),
        "done": done,
    }
    if counts.get("queued", 0) == 0:
        return _("warning.progress_done", **values)
    return _("warning.progress", left=format_span(seconds_left, _), **values)


def receipt_notice(n: ReceiptNotice, _: Translator, tz: tzinfo, now: datetime) -> Outgoing:
    """A receipt reminder (with the 收到 button) or the duty leader's list of who has not confirmed."""
    title = headline(n.fields, _)
    if n.kind == "remind":
        text = _("warning.receipt_remind", number=n.number, title=title)
        return Outgoing(
            "send_message",
            {"chat_id": n.chat_id, "text": text, "reply_markup": received_markup(n.delivery_id, _)},
            priority=Priority.REMINDER,
        )
    names = "、".join(escape(x) for x in n.names[:30])
    more = _("notice.more", n=len(n.names) - 30) if len(n.names) > 30 else ""
    text = _(
        "warning.receipt_leader", number=n.number, title=title, unit=escape(n.unit), n=len(n.names), names=names
    ) + (f"\n{more}" if more else "")
    return Outgoing("send_message", {"chat_id": n.chat_id, "text": text}, priority=Priority.ALERT)
