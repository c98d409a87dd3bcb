"""Keyboards: screens' buttons as Telegram markup, with typed callback data (ids only, ≤ 64 bytes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup

from bot.domain.locales import SUPPORTED_LOCALES
from bot.telegram.callbacks import AckCb, DraftCb, FormCb, LangCb, OpenCb
from bot.telegram.i18n import Translator
from bot.telegram.presenters import category_text
from bot.usecases.followups import OpenIncident
from conversations.view import View

LANGUAGE_LABELS = {"zh_Hans": "中文", "en": "English"}


def form_markup(view: View, form_id: str, token: str) -> InlineKeyboardMarkup | ReplyKeyboardMarkup:
    if view.reply_keyboard:
        rows = [[KeyboardButton(text=view.request_location or "📍", request_location=True)]]
        rows += [[KeyboardButton(text=b.label) for b in row] for row in view.rows]
        return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=b.label, callback_data=FormCb(f=form_id, t=token, s=view.step, a=b.action, v=b.value).pack()
                )
                for b in row
            ]
            for row in view.rows
        ]
    )


def draft_offer(token: str, _: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("button.continue"), callback_data=DraftCb(t=token, a="continue").pack())],
            [InlineKeyboardButton(text=_("button.restart"), callback_data=DraftCb(t=token, a="restart").pack())],
        ]
    )


def ack_keyboard(alert_id: int, _: Translator) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text=_("button.acknowledge"), callback_data=AckCb(alert=alert_id).pack())
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def languages() -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=LANGUAGE_LABELS[loc], callback_data=LangCb(locale=loc).pack())
        for loc in SUPPORTED_LOCALES
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


def receipt_markup(incident_id: int, _: Translator) -> InlineKeyboardMarkup:
    """Under a receipt: write the next follow-up about this incident."""
    button = InlineKeyboardButton(
        text=_("button.write_followup"), callback_data=OpenCb(f="followup", i=incident_id).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def incident_picker(choices: Sequence[OpenIncident], _: Translator, tz: tzinfo) -> InlineKeyboardMarkup:
    """One button per open incident: its number, category and time."""
    rows = []
    for c in choices:
        label = f"{c.number} · {category_text(c.category, c.subtype, _)} · {c.occurred_at.astimezone(tz):%m-%d %H:%M}"
        rows.append([InlineKeyboardButton(text=label[:64], callback_data=OpenCb(f="followup", i=c.id).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)
