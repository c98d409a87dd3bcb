"""Keyboards: screens' buttons as Telegram markup, with typed callback data (ids only, ≤ 64 bytes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.locales import SUPPORTED_LOCALES
from bot.telegram.callbacks import AckCb, DraftCb, HandledCb, IncidentDispatchCb, LangCb, OpenCb, form_callback
from bot.telegram.i18n import Translator
from bot.telegram.presenters import category_text
from bot.usecases.followups import OpenIncident
from conversations.view import View

LANGUAGE_LABELS = {"zh_Hans": "中文", "en": "English"}


def form_markup(view: View, form_id: str, token: str) -> dict[str, Any]:
    """A form screen's keyboard as the Bot API's JSON (drawn on every step: plain data, not aiogram models)."""
    if view.reply_keyboard:
        rows: list[list[dict[str, Any]]] = [[{"text": view.request_location or "📍", "request_location": True}]]
        rows += [[{"text": b.label} for b in row] for row in view.rows]
        return {"keyboard": rows, "resize_keyboard": True, "is_persistent": True}
    return {
        "inline_keyboard": [
            [
                {"text": b.label, "callback_data": form_callback(form_id, token, view.step, b.action, b.value)}
                for b in row
            ]
            for row in view.rows
        ]
    }


def draft_offer(token: str, _: Translator, instead: str = "", instead_title: str = "") -> InlineKeyboardMarkup:
    """Continue the waiting draft, or start over; or drop it for the form that was asked for."""
    rows = [[InlineKeyboardButton(text=_("button.continue"), callback_data=DraftCb(t=token, a="continue").pack())]]
    if instead:
        data = DraftCb(t=token, a="restart", f=instead).pack()
        rows.append([InlineKeyboardButton(text=_("button.instead", title=_(instead_title)), callback_data=data)])
    else:
        rows.append(
            [InlineKeyboardButton(text=_("button.restart"), callback_data=DraftCb(t=token, a="restart").pack())]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def ack_keyboard(
    alert_id: int, _: Translator, open_incident: bool = True, number: str | None = None
) -> InlineKeyboardMarkup:
    """Under a duty-group alert: acknowledge it; while the incident is open, mark it handled or order linked units out
    (联动派单: the incident's `number`, when the caller knows it)."""
    row = [InlineKeyboardButton(text=_("button.acknowledge"), callback_data=AckCb(alert=alert_id).pack())]
    rows = [row]
    if open_incident:
        row.append(InlineKeyboardButton(text=_("button.handled"), callback_data=HandledCb(alert=alert_id).pack()))
        if number is not None:
            dispatch = IncidentDispatchCb(n=number).pack()
            rows.append([InlineKeyboardButton(text=_("button.dispatch"), callback_data=dispatch)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def languages() -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=LANGUAGE_LABELS[loc], callback_data=LangCb(locale=loc).pack())
        for loc in SUPPORTED_LOCALES
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


def receipt_markup(incident_id: int, _: Translator, kind: str = "followup") -> InlineKeyboardMarkup:
    """Under a receipt or a notice: write the next follow-up (or the final report) about this incident."""
    if kind == "final":
        label = _("button.write_final")
    elif kind == "initial":
        label = _("button.write_written")
    else:
        label = _("button.write_followup")
    button = InlineKeyboardButton(text=label, callback_data=OpenCb(f=kind, i=incident_id).pack())
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def incident_picker(
    choices: Sequence[OpenIncident], _: Translator, tz: tzinfo, kind: str = "followup"
) -> InlineKeyboardMarkup:
    """One button per open incident: its number, category and time."""
    rows = []
    for c in choices:
        label = f"{c.number} · {category_text(c.category, c.subtype, _)} · {c.occurred_at.astimezone(tz):%m-%d %H:%M}"
        rows.append([InlineKeyboardButton(text=label[:64], callback_data=OpenCb(f=kind, i=c.id).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def written_or_new(incident_id: int, _: Translator) -> InlineKeyboardMarkup:
    """/report while a written report is owed: that one, or a report of another event."""
    written = OpenCb(f="initial", i=incident_id).pack()
    new = OpenCb(f="initial", i=0).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("button.write_written"), callback_data=written)],
            [InlineKeyboardButton(text=_("button.new_event"), callback_data=new)],
        ]
    )
