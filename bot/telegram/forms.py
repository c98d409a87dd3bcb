"""Forms on Telegram: messages to engine events, drafts in the FSM state, a Turn to messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove

from bot.domain.clock import format_local
from bot.telegram.i18n import Translator
from bot.telegram.keyboards import draft_offer, form_markup, receipt_markup, written_or_new
from bot.telegram.notifier import Outbox
from bot.usecases.common import AlertStatus
from bot.usecases.conversation import Turn
from bot.usecases.drafts import FORM_STATE
from conversations import events as ev
from conversations.formatting import join

MEDIA_KINDS = ("video", "voice", "audio", "document", "video_note", "animation")
EDITABLE_MAX = 4000
# the form a receipt's button opens next, by the kind of report filed (a phone report's receipt is the duty
# officer's: the written report is the named reporter's, who gets their own button)
NEXT_FORM = {"initial": "followup", "followup": "followup", "flash": "initial"}


class FsmDrafts:
    """The draft in the person's conversation state (on our database, in the update's transaction)."""

    def __init__(self, state: FSMContext) -> None:
        self.state = state

    async def load(self) -> dict[str, Any] | None:
        if await self.state.get_state() is None:
            return None
        draft = (await self.state.get_data()).get("draft")
        return draft if isinstance(draft, dict) else None

    async def save(self, draft: dict[str, Any]) -> None:
        await self.state.set_state(FORM_STATE)
        await self.state.set_data({"draft": draft})

    async def clear(self) -> None:
        await self.state.clear()


def to_event(message: Message) -> ev.Event:
    """Whatever a phone sends, as the engine sees it."""
    forwarded = message.forward_origin is not None
    text = message.text if message.text is not None else None
    if text is not None:
        return ev.Text(text, forwarded=forwarded)
    if message.venue is not None:
        v = message.venue
        return ev.Location(v.location.latitude, v.location.longitude, title=v.title, address=v.address)
    if message.location is not None:
        loc = message.location
        return ev.Location(loc.latitude, loc.longitude, live=loc.live_period is not None)
    if message.contact is not None:
        name = " ".join(x for x in (message.contact.first_name, message.contact.last_name) if x)
        return ev.Contact(name, message.contact.phone_number)
    album = message.media_group_id
    if message.photo:
        return ev.Media("photo", message.photo[-1].file_id, message.photo[-1].file_unique_id, album)
    for kind in MEDIA_KINDS:
        obj = getattr(message, kind)
        if obj is not None:
            return ev.Media(kind, obj.file_id, obj.file_unique_id, album)
    if message.caption is not None:  # a caption without media we keep is still words
        return ev.Text(message.caption, forwarded=forwarded)
    return ev.Unsupported(str(message.content_type))


def show_turn(
    turn: Turn,
    out: Outbox,
    chat_id: int,
    _: Translator,
    tz: Any,
    form_id: str = "",
    token: str = "",
    edit_message_id: int | None = None,
) -> int | None:
    """Send (or edit in place) what a turn shows; close a location keyboard when leaving it. Returns the
    receipt's message id when a filed report's receipt replaced the tapped message."""
    if turn.quiet:
        return None
    if turn.owed_written is not None:
        out.send(chat_id, _("written.owed"), reply_markup=written_or_new(turn.owed_written, _))
        return None
    if turn.offer is not None:
        o = turn.offer
        text = _(
            "report.draft_exists",
            answered=o.answered,
            total=o.total,
            started=format_local(o.started_at, tz),
            title=_(o.title),
        )
        out.send(chat_id, text, reply_markup=draft_offer(o.token, _, o.instead, o.instead_title))
        return None
    if turn.say is not None:
        if edit_message_id is not None:
            out.edit_markup(chat_id, edit_message_id, None)
        out.send(chat_id, turn.say, reply_markup=ReplyKeyboardRemove() if turn.close_keyboard else None)
        return None
    if turn.filed is not None:
        return _receipt(turn, out, chat_id, _, tz, edit_message_id)
    view = turn.view
    if view is None:
        return None
    if turn.close_keyboard:
        out.send(chat_id, _("notice.keyboard_closed"), reply_markup=ReplyKeyboardRemove())
    text = f"{turn.lead}\n\n{view.text}" if turn.lead else view.text
    markup = form_markup(view, form_id, token)
    if turn.edit and edit_message_id is not None and not view.reply_keyboard and len(text) <= EDITABLE_MAX:
        out.edit(chat_id, edit_message_id, text, reply_markup=markup)
    else:
        out.send(chat_id, text, reply_markup=markup)
    return None


def status_lines(statuses: Sequence[AlertStatus], _: Translator, tz: Any) -> list[str]:
    """What became of each duty-group alert: queued, delivered, retrying, or whom the bot told instead."""
    lines = []
    for s in statuses:
        group = escape(s.group)
        if s.state == "delivered":
            lines.append(_("receipt.delivered", group=group, time=format_local(s.at, tz) if s.at else "-"))
        elif s.state == "undeliverable":
            told = join([escape(n) for n in s.told], _)
            lines.append(
                _("receipt.undeliverable", group=group, told=told)
                if told
                else _("receipt.undeliverable_nobody", group=group)
            )
        elif s.state == "retrying":
            lines.append(_("receipt.retrying", group=group))
        else:
            lines.append(_("receipt.queued", group=group))
    return lines


def receipt_lines(
    number: str,
    statuses: Sequence[AlertStatus],
    admins: Sequence[str],
    next_due_at: datetime | None,
    hours: int,
    late: bool,
    initial_due_at: datetime | None,
    _: Translator,
    tz: Any,
    kind: str = "initial",
    seq: int = 0,
) -> list[str]:
    """A filed report's receipt: its number, what became of the alerts, the next deadline, 迟报 if late
    (`initial_due_at`: the deadline this report answered)."""
    followup = kind == "followup"
    if kind == "final":
        lines = [_("report.submitted_final", number=number)]
    elif kind == "flash":
        lines = [_("report.submitted_flash", number=number)]
    elif kind == "phone":
        lines = [_("report.submitted_phone", number=number)]
    elif followup:
        lines = [_("report.submitted_followup", number=number, n=seq)]
    else:
        lines = [_("report.submitted", number=number)]
    if statuses:
        lines += status_lines(statuses, _, tz)
    elif admins:
        lines.append(_("report.notified", who=join([escape(a) for a in admins], _)))
    else:
        lines.append(_("report.notified_nobody"))
    if kind in ("flash", "phone") and initial_due_at is not None:
        lines.append(_("report.written_due", due=format_local(initial_due_at, tz)))
    elif next_due_at is not None and kind == "final":
        lines.append(_("report.next_evaluation", due=format_local(next_due_at, tz)))
    elif next_due_at is not None and followup:
        lines.append(_("report.next_followup", due=format_local(next_due_at, tz), n=seq + 1))
    elif next_due_at is not None:
        lines.append(_("report.next_deadline", due=format_local(next_due_at, tz), hours=hours))
    if late and initial_due_at is not None and kind == "final":
        lines.append(_("report.late_final", due=format_local(initial_due_at, tz)))
    elif late and initial_due_at is not None and followup:
        lines.append(_("report.late_followup", due=format_local(initial_due_at, tz)))
    elif late and initial_due_at is not None:
        lines.append(_("report.late", due=format_local(initial_due_at, tz)))
    return lines


def _receipt(turn: Turn, out: Outbox, chat_id: int, _: Translator, tz: Any, edit_message_id: int | None) -> int | None:
    filed = turn.filed
    assert filed is not None
    if not filed.created:
        if edit_message_id is not None:
            out.edit_markup(chat_id, edit_message_id, None)
        out.send(chat_id, _("report.already_submitted", number=filed.number))
        return None
    admins = [admin.name for admin, _unit in filed.admins]
    lines = receipt_lines(
        filed.number,
        filed.statuses,
        admins,
        filed.next_due_at,
        filed.next_due_hours,
        filed.late,
        filed.initial_due_at,
        _,
        tz,
        filed.kind,
        filed.seq,
    )
    # The review message becomes the receipt: confirmation on top, the submitted answers below, and the
    # button for the next follow-up.
    receipt = "\n".join([*lines, "", *turn.summary])
    markup = receipt_markup(filed.incident_id, _, NEXT_FORM[filed.kind]) if filed.kind in NEXT_FORM else None
    if edit_message_id is not None and not turn.close_keyboard and len(receipt) <= EDITABLE_MAX:
        out.edit(chat_id, edit_message_id, receipt, reply_markup=markup)
        return edit_message_id
    if edit_message_id is not None:
        out.edit_markup(chat_id, edit_message_id, None)
    if turn.close_keyboard and markup is not None:  # one markup per message: close the keyboard first
        out.send(chat_id, _("notice.keyboard_closed"), reply_markup=ReplyKeyboardRemove())
    out.send(chat_id, "\n".join(lines), reply_markup=markup or (ReplyKeyboardRemove() if turn.close_keyboard else None))
    return None
