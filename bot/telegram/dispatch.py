"""联动 dispatch in Telegram: a unit's order as a message with the buttons its state allows, the clock's notices, the
dispatcher's receipt. Plain data in (bot.usecases.dispatch), HTML out in the reader's language; user text escaped."""

from __future__ import annotations

from datetime import tzinfo
from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.clock import format_local
from bot.domain.text import N_
from bot.telegram.callbacks import DispatchCb
from bot.telegram.i18n import Translator
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Outbox, Outgoing
from bot.telegram.presenters import category_text
from bot.usecases.common import Config
from bot.usecases.dispatch import ClockNotice, DispatchFiled, OrderCard
from conversations.addons import grade_label
from conversations.formatting import map_link

STATE_LABELS = {
    "dispatched": N_("dispatch.state.dispatched"),
    "accepted": N_("dispatch.state.accepted"),
    "declined": N_("dispatch.state.declined"),
    "en_route": N_("dispatch.state.en_route"),
    "arrived": N_("dispatch.state.arrived"),
    "scene_reported": N_("dispatch.state.scene_reported"),
    "done": N_("dispatch.state.done"),
    "withdrawn": N_("dispatch.state.withdrawn"),
}
# a state -> the buttons a unit may press in it (the table of moves, bot.domain.dispatch.MOVES, as buttons)
BUTTONS: dict[str, tuple[tuple[str, str], ...]] = {
    "dispatched": (
        ("accept", N_("dispatch.btn.accept")),
        ("decline", N_("dispatch.btn.decline")),
        ("depart", N_("dispatch.btn.depart")),
        ("arrive", N_("dispatch.btn.arrive")),
    ),
    "accepted": (
        ("depart", N_("dispatch.btn.depart")),
        ("arrive", N_("dispatch.btn.arrive")),
        ("decline", N_("dispatch.btn.decline")),
    ),
    "en_route": (("arrive", N_("dispatch.btn.arrive")),),
    "arrived": (("scene", N_("dispatch.btn.scene")), ("feedback", N_("dispatch.btn.feedback"))),
    "scene_reported": (("feedback", N_("dispatch.btn.feedback")),),
}
# a decline's reasons (the dispatcher is told which); "other": the unit will call the dispatcher
DECLINE_REASONS = {
    "busy": N_("dispatch.reason.busy"),
    "scope": N_("dispatch.reason.scope"),
    "far": N_("dispatch.reason.far"),
    "other": N_("dispatch.reason.other"),
}


def order_text(card: OrderCard, _: Translator, tz: tzinfo) -> str:
    place = escape(card.place or "")
    if card.lat is not None and card.lon is not None:
        place = f'{place} <a href="{escape(map_link(card.lat, card.lon))}">{_("alert.map")}</a>'.strip()
    lines = [
        _("dispatch.order.title", number=card.order_number, unit=escape(card.unit)),
        _("dispatch.order.incident", number=card.incident_number, grade=grade_label(card.grade, _)),
        _("alert.category", category=escape(category_text(card.category, card.subtype, _))),
        _("alert.place", place=place or _("value.none")),
        _("dispatch.order.instruction", text=escape(card.instruction)),
    ]
    if card.meeting_point:
        lines.append(_("dispatch.order.meeting", place=escape(card.meeting_point)))
    lines.append(
        _(
            "dispatch.order.due",
            minutes=card.minutes,
            due=format_local(card.due_at, tz),
        )
    )
    phone = f" {escape(card.dispatcher_phone)}" if card.dispatcher_phone else ""
    lines.append(_("dispatch.order.by", name=escape(card.dispatcher), phone=phone))
    state = _(STATE_LABELS.get(card.state, card.state))
    if card.late:
        state = f"{state} · {_(LATE_MARK)}"
    lines.append(_("dispatch.order.state", state=state))
    if card.decline_reason:
        lines.append(_("dispatch.order.reason", reason=escape(card.decline_reason)))
    if card.distance_m is not None:
        lines.append(_("dispatch.order.distance", metres=round(card.distance_m)))
    return "\n".join(lines)


def order_keyboard(card: OrderCard, _: Translator) -> InlineKeyboardMarkup | None:
    if not card.order_open:
        return None
    buttons = [
        InlineKeyboardButton(text=_(label), callback_data=DispatchCb(p=card.part_id, m=move).pack())
        for move, label in BUTTONS.get(card.state, ())
    ]
    if not buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def reasons_keyboard(part_id: int, _: Translator) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(text=_(label), callback_data=DispatchCb(p=part_id, m="reason", r=code).pack())]
        for code, label in DECLINE_REASONS.items()
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def order_message(chat_id: int, card: OrderCard, _: Translator, tz: tzinfo) -> Outgoing:
    kwargs: dict[str, object] = {"chat_id": chat_id, "text": order_text(card, _, tz)}
    markup = order_keyboard(card, _)
    if markup is not None:
        kwargs["reply_markup"] = markup
    return Outgoing("send_message", kwargs, priority=Priority.ALERT)


CLOCK_TITLES = {
    "resend": N_("dispatch.clock.resend"),
    "unanswered": N_("dispatch.clock.unanswered"),
    "remind": N_("dispatch.clock.remind"),
    "late": N_("dispatch.clock.late"),
    "scene_owed": N_("dispatch.clock.scene_owed"),
}


def clock_message(notice: ClockNotice, _: Translator, tz: tzinfo) -> Outgoing:
    text = _(
        CLOCK_TITLES[notice.kind],
        number=notice.order_number,
        incident=notice.incident_number,
        unit=escape(notice.unit_name),
        due=format_local(notice.due_at, tz),
    )
    if notice.kind == "resend":
        text += "\n" + _("dispatch.order.instruction", text=escape(notice.instruction))
    kwargs: dict[str, object] = {"chat_id": notice.chat_id, "text": text}
    if notice.kind in ("resend", "remind", "scene_owed"):
        moves = {"resend": ("accept", "decline"), "remind": ("arrive",), "scene_owed": ("scene",)}[notice.kind]
        labels = dict(pair for state in BUTTONS.values() for pair in state)
        kwargs["reply_markup"] = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(text=_(labels[m]), callback_data=DispatchCb(p=notice.part_id, m=m).pack())
                    for m in moves
                ]
            ]
        )
    return Outgoing("send_message", kwargs, priority=Priority.ALERT)


ANSWER_DONE = {"scene": N_("dispatch.scene_done"), "feedback": N_("dispatch.feedback_done")}
ANSWER_GROUP = {"scene": N_("dispatch.group_scene"), "feedback": N_("dispatch.group_feedback")}
LATE_MARK = N_("dispatch.late_mark")


def show_dispatched(
    filed: DispatchFiled, out: Outbox, chat_id: int, _: Translator, config: Config, edit_message_id: int | None
) -> None:
    """A dispatch form filed: the order to each unit's chats (in each reader's language, with its buttons) and its
    receipt to the dispatcher; or a unit's scene report or feedback, told to the dispatching duty group."""
    tz, group_ = config.tz, _.for_locale(config.default_locale)
    if filed.kind == "order":
        if not filed.created:
            out.send(chat_id, _("dispatch.already_ordered", number=filed.number))
            return
        names = [card.unit for card, _where in filed.cards]
        receipt = _("dispatch.ordered", number=filed.number, units=escape("、".join(names)))
        if edit_message_id is not None:
            out.edit(chat_id, edit_message_id, receipt)
        else:
            out.send(chat_id, receipt)
        for card, where in filed.cards:
            for recipient in where:
                tr = _.for_locale(recipient.locale or config.default_locale)
                message = order_message(recipient.chat_id, card, tr, tz)
                out.send(recipient.chat_id, str(message.kwargs["text"]), priority=Priority.ALERT, **_markup(message))
            if not where:
                out.send(chat_id, _("dispatch.nobody", unit=escape(card.unit)))
        if filed.board_chat_id is not None and filed.board_chat_id != chat_id:
            lines = [group_("dispatch.group_ordered", number=filed.number, units=escape("、".join(names)))]
            lines.append(group_("dispatch.order.instruction", text=escape(filed.cards[0][0].instruction)))
            out.send(filed.board_chat_id, "\n".join(lines), priority=Priority.ALERT)
        return
    if not filed.created:
        out.send(chat_id, _("dispatch.already_answered", number=filed.number))
        return
    card = filed.cards[0][0]
    done = _(ANSWER_DONE[filed.kind], number=filed.number)
    if edit_message_id is not None:
        out.edit(chat_id, edit_message_id, done)
    else:
        out.send(chat_id, done)
    out.send(chat_id, order_text(card, _, tz), **_markup(order_message(chat_id, card, _, tz)))
    if filed.board_chat_id is not None:
        text = group_(ANSWER_GROUP[filed.kind], number=filed.number, unit=escape(card.unit), text=escape(filed.text))
        out.send(filed.board_chat_id, text, priority=Priority.ALERT)


def _markup(message: Outgoing) -> dict[str, object]:
    markup = message.kwargs.get("reply_markup")
    return {"reply_markup": markup} if markup is not None else {}
