"""Typed, versioned callback data: ids only, always well under Telegram's 64-byte limit."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LangCb(CallbackData, prefix="v1l"):
    locale: str
