"""联动 dispatch in Telegram: a unit's order as a message with the buttons its state allows, the clock's notices, the
dispatcher's receipt. Plain data in (bot.usecases.dispatch), HTML out in the reader's language; user text escaped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, tzinfo
from html import escape

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.clock import format_local
from bot.domain.text import N_
from bot.telegram.callbacks import DispatchCb
from bot.telegram.i18n import Catalogs, Translator
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Notifier, Outbox, Outgoing
from bot.telegram.presenters import category_text
from bot.usecases.common import Config
from bot.usecases.dispatch import Board, ClockNotice, DispatchFiled, OrderCard, board_drawn, boards_due, next_board_at
from conversations.addons import grade_label
from conversations.formatting import join, map_link
from storage.uow import unit_of_work

log = logging.getLogger(__name__)

BOARD_LOOK = 5.0  # seconds: the keeper looks this often even without a wake-up (another process's moves)

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
    "feedback_owed": N_("dispatch.clock.feedback_owed"),
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
    if notice.kind in ("resend", "remind", "scene_owed", "feedback_owed"):
        moves = {
            "resend": ("accept", "decline"),
            "remind": ("arrive",),
            "scene_owed": ("scene",),
            "feedback_owed": ("feedback",),
        }[notice.kind]
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
LATE_MARK = N_("dispatch.late_mark")


def show_dispatched(
    filed: DispatchFiled, out: Outbox, chat_id: int, _: Translator, config: Config, edit_message_id: int | None
) -> None:
    """A dispatch form filed: the order to each unit's chats (in each reader's language, with its buttons) and its
    receipt to the dispatcher; or a unit's scene report or feedback, told to the dispatching duty group."""
    tz = config.tz
    if filed.kind == "order":
        if not filed.created:
            out.send(chat_id, _("dispatch.already_ordered", number=filed.number))
            return
        names = [card.unit for card, _where in filed.cards]
        receipt = _("dispatch.ordered", number=filed.number, units=escape(join(names, _)))
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


def _markup(message: Outgoing) -> dict[str, object]:
    markup = message.kwargs.get("reply_markup")
    return {"reply_markup": markup} if markup is not None else {}


# ---- the live board ------------------------------------------------------------------------------------------------
def _at(moment: datetime | None, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M") if moment is not None else ""


def board_text(board: Board, _: Translator, tz: tzinfo) -> str:
    """One order's board: each unit's state with its times; late units marked; what they reported."""
    lines = [
        _("dispatch.board.title", number=board.number, incident=board.incident_number),
        _("dispatch.order.instruction", text=escape(board.instruction)),
    ]
    if board.meeting_point:
        lines.append(_("dispatch.order.meeting", place=escape(board.meeting_point)))
    lines.append(_("dispatch.board.by", name=escape(board.dispatcher), at=_at(board.created_at, tz)))
    for line in board.lines:
        steps = [
            f"{_(STATE_LABELS['accepted'])} {_at(line.accepted_at, tz)}" if line.accepted_at else "",
            f"{_(STATE_LABELS['en_route'])} {_at(line.departed_at, tz)}" if line.departed_at else "",
            f"{_(STATE_LABELS['arrived'])} {_at(line.arrived_at, tz)}" if line.arrived_at else "",
        ]
        state = _(STATE_LABELS.get(line.state, line.state))
        mark = f" {_(LATE_MARK)}" if line.late else ""
        lines.append(
            _(
                "dispatch.board.unit",
                unit=escape(line.unit),
                state=state,
                late=mark,
                due=_at(line.due_at, tz),
                minutes=line.minutes,
                steps=" · ".join(s for s in steps if s) or "—",
            )
        )
        if line.distance_m is not None:
            lines.append("    " + _("dispatch.metres", metres=round(line.distance_m)))
        if line.decline_reason:
            lines.append("    " + _("dispatch.order.reason", reason=escape(line.decline_reason)))
        if line.scene:
            lines.append("    " + _("dispatch.board.scene", text=escape(line.scene[:300])))
        if line.feedback:
            lines.append("    " + _("dispatch.board.feedback", text=escape(line.feedback[:300])))
    if not board.open:
        lines.append(_("dispatch.board.closed"))
    return "\n".join(lines)


class BoardKeeper:
    """Draws the due boards (bot.usecases.dispatch.boards_due): edits a board's message in place, or sends it once
    and records its id. Moves close together make one edit (BOARD_COALESCE), so a busy order stays within a group's
    20 messages a minute; the notifier paces the rest. Runs in every process; a board is held by the one drawing it."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], catalogs: Catalogs, notifier: Notifier, config: Config
    ) -> None:
        self.sessionmaker, self.catalogs, self.notifier, self.config = sessionmaker, catalogs, notifier, config
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def draw_due(self) -> int:
        async with unit_of_work(self.sessionmaker) as repos:
            boards = await boards_due(repos, self.config.clock())
        for board in boards:
            try:
                message_id = await self._draw(board)
            except Exception:  # held a while, then drawn again (a flood, an outage)
                log.exception("could not draw the board of %s", board.number)
                continue
            async with unit_of_work(self.sessionmaker) as repos:
                await board_drawn(repos, board.order_id, message_id, board.held_until)
        return len(boards)

    async def _draw(self, board: Board) -> int | None:
        _ = self.catalogs.translator(self.catalogs.default_locale)
        text = board_text(board, _, self.config.tz)
        if board.message_id is not None:
            edit = {"chat_id": board.chat_id, "message_id": board.message_id, "text": text}
            try:
                await self.notifier.deliver(Outgoing("edit_message_text", edit, priority=Priority.ALERT))
                return None
            except TelegramBadRequest as exc:  # deleted from the group: post it anew
                log.warning("board of %s could not be edited (%s); sending it again", board.number, exc)
        sent = await self.notifier.deliver(
            Outgoing("send_message", {"chat_id": board.chat_id, "text": text}, priority=Priority.ALERT)
        )
        return sent.message_id if isinstance(sent, Message) else None

    async def run(self) -> None:
        while True:
            self._woken.clear()
            try:
                await self.draw_due()
                async with unit_of_work(self.sessionmaker) as repos:
                    nearest = await next_board_at(repos)
            except Exception:
                log.exception("drawing the boards failed; trying again shortly")
                nearest = None
            now = self.config.clock()
            delay = BOARD_LOOK if nearest is None else min(BOARD_LOOK, max(0.0, (nearest - now).total_seconds()))
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), timeout=delay)
