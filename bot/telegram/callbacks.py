"""Typed, versioned callback data: ids only, always well under Telegram's 64-byte limit."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message


class LangCb(CallbackData, prefix="v1l"):
    locale: str


class FormCb(CallbackData, prefix="v2f"):
    """A button of a form screen: form id, draft token, screen (step code), action, value."""

    f: str
    t: str
    s: int
    a: str
    v: str = ""


def form_callback(f: str, t: str, s: int, a: str, v: str = "") -> str:
    """FormCb(f=f, t=t, s=s, a=a, v=v).pack() without building the model (a form screen has up to a dozen
    buttons, drawn on every step); tests/telegram/test_keyboards.py holds it equal to pack()."""
    data = f"{FormCb.__prefix__}:{f}:{t}:{s}:{a}:{v}"
    if data.count(":") != 5 or len(data.encode()) > 64:  # what pack() refuses
        return FormCb(f=f, t=t, s=s, a=a, v=v).pack()  # raises with pack()'s own message
    return data


class DraftCb(CallbackData, prefix="v1d"):
    """Continue or restart a saved draft (or drop it for another form, `f`)."""

    t: str
    a: str
    f: str = ""


class AckCb(CallbackData, prefix="v1a"):
    """Acknowledge a duty-group alert."""

    alert: int


class OpenCb(CallbackData, prefix="v1o"):
    """Open a form about an incident (a reminder's or a receipt's button): form id, incident id."""

    f: str
    i: int


class HandledCb(CallbackData, prefix="v1h"):
    """Mark an alert's incident handled (the final report becomes due)."""

    alert: int


class WarnCb(CallbackData, prefix="v1w"):
    """A publisher's button on a warning: approve, reject, adjust, lift (and its confirmation), status, cap."""

    a: str
    w: int


class ReceivedCb(CallbackData, prefix="v1r"):
    """收到: a recipient confirms a warning (the delivery's id)."""

    d: int


class PageCb(CallbackData, prefix="v1p"):
    """Another page of a desk list: status, overdue, mine."""

    q: str
    p: int


class HandoverCb(CallbackData, prefix="v1t"):
    """接班确认: the incoming officer takes the shift over."""

    h: int


def pressed_on_its_message(query: CallbackQuery, bot_id: int) -> bool:
    """The button's data is one the bot put on the message it was pressed on.

    callback_data comes from the client, but the message in a callback query (with its keyboard) comes from
    Telegram's own copy: data that is not on that message's keyboard was forged, or copied from another message (a
    page button pressed "on" an alert, a receipt button in another chat). Such a press is refused before anything is
    read or changed. A message Telegram no longer shows (deleted, inaccessible) cannot be checked and is refused."""
    message = query.message
    if not isinstance(message, Message) or query.data is None:
        return False
    if message.from_user is not None and message.from_user.id != bot_id:
        return False
    markup = message.reply_markup
    if markup is None:
        return False
    return any(button.callback_data == query.data for row in markup.inline_keyboard for button in row)


class DispatchCb(CallbackData, prefix="v1x"):
    """A button of a unit's dispatch order: its part, and the move (accept, decline, depart, arrive, scene, feedback,
    a decline's reason code `r`, far: an arrival beyond the radius confirmed)."""

    p: int
    m: str
    r: str = ""


class OrderCb(CallbackData, prefix="v1y"):
    """The dispatcher's button on an open order in /dispatches: close it, or add units (增派)."""

    o: int
    a: str


class IncidentDispatchCb(CallbackData, prefix="v1z"):
    """🚨 联动派单 under an incident's duty-group alert: open the order form for that incident (its number; in the
    private chat)."""

    n: str
