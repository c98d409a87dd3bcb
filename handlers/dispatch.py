"""联动 dispatch in chat: `/dispatch KB-…` opens the order form; a unit's buttons on its order: 接收, 无法执行 (with a
reason), 已出发, 已到达 (with a location: near, far and confirmed, or a live location entering the radius), then the
scene report and the feedback forms. A refusal (not the unit's, stale) is the use case's: the press's popup."""

from __future__ import annotations

import io
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.domain.roster import size_text
from bot.domain.text import N_
from bot.telegram.alerts import AlertCourier
from bot.telegram.callbacks import DispatchCb, IncidentDispatchCb, OrderCb
from bot.telegram.dispatch import (
    DECLINE_REASONS,
    LATE_MARK,
    STATE_LABELS,
    order_keyboard,
    order_text,
    reasons_keyboard,
)
from bot.telegram.forms import FsmDrafts
from bot.telegram.i18n import Translator
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Outbox
from bot.usecases.dispatch import Answered, Candidate, OpenOrder
from bot.usecases.facade import UseCases
from conversations.formatting import join
from handlers import forms
from handlers.filters import PRIVATE, Magic, MayUse, Registered

ARRIVE = "dispatch_arrive"  # waiting for the location of an arrival (data: the part, and a far place to confirm)


async def cmd_dispatch(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    uc: UseCases,
    _: Translator,
    out: Outbox,
    alerts: AlertCourier,
) -> None:
    """/dispatch KB-…: the order form, with the linked units this person may order out."""
    number = (command.args or "").strip().split(" ")[0]
    if not number:
        out.send(message.chat.id, _("dispatch.usage"))
        return
    subject, units = await uc.dispatch_start(number)
    await _order_form(subject, units, message.chat.id, state, uc, _, out, alerts)


async def _order_form(
    subject: dict[str, Any],
    units: list[Candidate],
    chat_id: int,
    state: FSMContext,
    uc: UseCases,
    _: Translator,
    out: Outbox,
    alerts: AlertCourier,
    known: dict[str, Any] | None = None,
    about: str = N_("dispatch.about"),
) -> None:
    """The order form for an incident (`known`: answers it starts with, adding units to an order)."""
    base = {"units": _unit_labels(units, _, uc)}
    turn = await uc.forms(FsmDrafts(state), _).start("dispatch", initial=known, base=base, subject=subject)
    if turn.view is not None:
        lead = _(about, number=subject.get("number") or subject["incident"])
        turn.lead = f"{lead}\n{turn.lead}".strip()
    await forms.show(turn, uc, out, chat_id, _, alerts, state)


async def on_incident_button(
    query: CallbackQuery,
    callback_data: IncidentDispatchCb,
    state: FSMContext,
    uc: UseCases,
    _: Translator,
    out: Outbox,
    alerts: AlertCourier,
) -> None:
    """🚨 联动派单 under an alert: the order form, in the private chat (pressed in the group: a message there to go
    on with; someone who may not order units out for the incident gets the refusal as the press's popup)."""
    subject, units = await uc.dispatch_start(callback_data.n)
    user_id = query.from_user.id
    if query.message is not None and query.message.chat.id != user_id:
        out.answer_callback(query.id, _("dispatch.use_private"), show_alert=True)
        go_on = _one_button(_("dispatch.continue"), query.data or "")
        out.send(user_id, _("dispatch.continue_incident", number=subject["incident"]), reply_markup=go_on)
        return
    out.answer_callback(query.id)
    await _order_form(subject, units, user_id, state, uc, _, out, alerts)


async def on_button(
    query: CallbackQuery,
    callback_data: DispatchCb,
    state: FSMContext,
    uc: UseCases,
    _: Translator,
    out: Outbox,
    alerts: AlertCourier,
) -> None:
    part, move = callback_data.p, callback_data.m
    user_id = query.from_user.id
    chat_id = query.message.chat.id if query.message else user_id
    message_id = query.message.message_id if query.message else None
    private = chat_id == user_id
    if move in ("accept", "depart"):
        answered = await uc.dispatch_answer(part, move)
        out.answer_callback(query.id, _("dispatch.done", state=_(STATE_LABELS[answered.state.value])))
        _redraw(out, chat_id, message_id, answered, _, uc)
        return
    if move == "decline":
        card = await uc.dispatch_check(part)
        out.answer_callback(query.id)
        out.send(chat_id, _("dispatch.decline_why", number=card.order_number), reply_markup=reasons_keyboard(part, _))
        return
    if move == "reason" and callback_data.r in DECLINE_REASONS:
        reason = _.for_locale(uc.config.default_locale)(DECLINE_REASONS[callback_data.r])
        answered = await uc.dispatch_answer(part, "decline", reason=reason)
        out.answer_callback(query.id, _("dispatch.declined_done"))
        _redraw(out, chat_id, message_id, answered, _, uc)
        dispatcher = answered.dispatcher
        if dispatcher is not None and dispatcher.telegram_id != answered.group_chat_id:
            tr = _.for_locale(dispatcher.locale or uc.config.default_locale)
            text = tr(
                "dispatch.declined_dispatcher",
                number=answered.card.order_number,
                unit=escape(answered.card.unit),
                reason=escape(reason),
                incident=answered.card.incident_number,
            )
            other = _one_button(tr("dispatch.btn.add"), OrderCb(o=answered.card.order_id, a="add").pack())
            out.send(dispatcher.telegram_id, text, priority=Priority.ALERT, reply_markup=other)  # offered others
        return
    if move in ("arrive", "far", "noloc", "scene", "feedback"):
        card = await uc.dispatch_check(part)
        if not private:  # a location, a form: in the private chat with the bot
            out.answer_callback(query.id, _("dispatch.use_private"), show_alert=True)
            again = _one_button(_("dispatch.continue"), query.data or "")
            out.send(user_id, _("dispatch.continue_here", number=card.order_number), reply_markup=again)
            return
        out.answer_callback(query.id)
        if move in ("scene", "feedback"):
            await state.clear()
            turn = await uc.forms(FsmDrafts(state), _).start(move, subject={"part": part, "number": card.order_number})
            if turn.view is not None:
                about = _("dispatch.form_about", number=card.order_number)
                turn.lead = f"{about}\n{turn.lead}".strip()
            await forms.show(turn, uc, out, chat_id, _, alerts, state)
            return
        if move == "arrive":
            await state.set_state(ARRIVE)
            await state.set_data({"part": part})
            keyboard = ReplyKeyboardMarkup(
                keyboard=[[KeyboardButton(text=_("dispatch.share_location"), request_location=True)]],
                resize_keyboard=True,
                one_time_keyboard=True,
            )
            out.send(chat_id, _("dispatch.where", number=card.order_number), reply_markup=keyboard)
            noloc = _one_button(_("dispatch.no_location"), DispatchCb(p=part, m="noloc").pack())
            out.send(chat_id, _("dispatch.where_live"), reply_markup=noloc)
            return
        data = await state.get_data()
        where = (data.get("lat"), data.get("lon")) if move == "far" and data.get("part") == part else (None, None)
        if move == "far" and where[0] is None:
            out.send(chat_id, _("common.stale_button"))
            return
        location = (float(where[0]), float(where[1])) if where[0] is not None else None  # type: ignore[arg-type]
        answered = await uc.dispatch_answer(part, "arrive", location=location, far_confirmed=True)
        await state.clear()
        _arrived(out, chat_id, answered, _, uc)
        return
    out.answer_callback(query.id, _("common.stale_button"), show_alert=True)


async def _arrive_at(message: Message, state: FSMContext, uc: UseCases) -> tuple[int, tuple[float, float], Answered]:
    """An arrival at the location this message carries (a far one is kept for the unit to confirm)."""
    data = await state.get_data()
    assert message.location is not None
    part, where = int(data.get("part") or 0), (message.location.latitude, message.location.longitude)
    answered = await uc.dispatch_answer(part, "arrive", location=where)
    if answered.confirm_far:
        await state.update_data(lat=where[0], lon=where[1])
    else:
        await state.clear()
    return part, where, answered


async def on_location(message: Message, state: FSMContext, uc: UseCases, _: Translator, out: Outbox) -> None:
    """The location of an arrival (a live location's first one too)."""
    part, _where, answered = await _arrive_at(message, state, uc)
    if not answered.confirm_far:
        _arrived(out, message.chat.id, answered, _, uc)
        return
    metres = round(answered.distance_m or 0)
    assert message.location is not None
    if message.location.live_period:  # a live location: it checks in by itself once inside the radius
        out.send(message.chat.id, _("dispatch.live_far", metres=metres))
        return
    confirm = _one_button(_("dispatch.far_yes"), DispatchCb(p=part, m="far").pack())
    out.send(message.chat.id, _("dispatch.far_confirm", metres=metres), reply_markup=confirm)


async def on_live_location(message: Message, state: FSMContext, uc: UseCases, _: Translator, out: Outbox) -> None:
    """A live location moving: inside the radius it checks the unit in; outside, nothing is said (it keeps moving)."""
    _part, _where, answered = await _arrive_at(message, state, uc)
    if not answered.confirm_far:
        _arrived(out, message.chat.id, answered, _, uc)


def _one_button(text: str, data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data)]])


def _arrived(out: Outbox, chat_id: int, answered: Answered, _: Translator, uc: UseCases) -> None:
    metres = (
        _("dispatch.metres", metres=round(answered.card.distance_m))
        if answered.card.distance_m is not None
        else _("dispatch.no_distance")
    )
    late = f" {_(LATE_MARK)}" if answered.card.late else ""
    out.send(chat_id, _("dispatch.arrived", distance=metres, late=late), reply_markup=ReplyKeyboardRemove())
    out.send(chat_id, order_text(answered.card, _, uc.config.tz), reply_markup=order_keyboard(answered.card, _))


def _redraw(out: Outbox, chat_id: int, message_id: int | None, answered: Answered, _: Translator, uc: UseCases) -> None:
    if message_id is not None:
        out.edit(
            chat_id,
            message_id,
            order_text(answered.card, _, uc.config.tz),
            reply_markup=order_keyboard(answered.card, _),
        )


ORDERS_MAX = 20  # open orders /dispatches lists (the oldest first)


async def cmd_dispatches(message: Message, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/dispatches: the open orders of this person's unit and below, each with 关闭 and 增派; for a linked unit's
    people, the orders their unit received and has not finished, each with its buttons."""
    received = await uc.dispatch_received()
    for card in received[:ORDERS_MAX]:
        out.send(message.chat.id, order_text(card, _, uc.config.tz), reply_markup=order_keyboard(card, _))
    orders = await uc.dispatch_orders()
    if not orders:
        if not received:
            out.send(message.chat.id, _("dispatch.list_none"))
        return
    for order in orders[:ORDERS_MAX]:
        out.send(message.chat.id, _open_order_text(order, _, uc), reply_markup=_order_buttons(order.order_id, _))
    if len(orders) > ORDERS_MAX:
        out.send(message.chat.id, _("notice.more", n=len(orders) - ORDERS_MAX))


def _open_order_text(order: OpenOrder, _: Translator, uc: UseCases) -> str:
    at = order.created_at.astimezone(uc.config.tz).strftime("%m-%d %H:%M")
    lines = [_("dispatch.list_item", number=order.number, incident=order.incident_number, at=at)]
    for unit, state, late in order.units:
        mark = f" {_(LATE_MARK)}" if late else ""
        lines.append(f"• {escape(unit)}：{_(STATE_LABELS.get(state, state))}{mark}")
    return "\n".join(lines)


def _order_buttons(order_id: int, _: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=_("dispatch.btn.add"), callback_data=OrderCb(o=order_id, a="add").pack()),
                InlineKeyboardButton(text=_("dispatch.btn.close"), callback_data=OrderCb(o=order_id, a="close").pack()),
            ]
        ]
    )


async def on_order_button(
    query: CallbackQuery,
    callback_data: OrderCb,
    state: FSMContext,
    uc: UseCases,
    _: Translator,
    out: Outbox,
    alerts: AlertCourier,
) -> None:
    """关闭: the order is closed, the parts not done withdrawn. 增派: the order form again, for more units."""
    chat_id = query.message.chat.id if query.message else query.from_user.id
    if callback_data.a == "close":
        number = await uc.dispatch_close(callback_data.o)
        out.answer_callback(query.id, _("dispatch.closed_done", number=number))
        if query.message is not None:
            out.edit(chat_id, query.message.message_id, _("dispatch.closed_done", number=number))
        return
    if callback_data.a == "add":
        subject, known, units = await uc.dispatch_add_start(callback_data.o)
        out.answer_callback(query.id)
        await _order_form(subject, units, chat_id, state, uc, _, out, alerts, known, N_("dispatch.add_about"))
        return
    out.answer_callback(query.id, _("common.stale_button"), show_alert=True)


def _unit_labels(units: list[Candidate], _: Translator, uc: UseCases) -> list[tuple[int, str]]:
    policy = uc.config.dispatch
    return [
        (
            c.linked_id,
            _(
                "dispatch.unit_option",
                kind=_(policy.kinds.get(c.kind, c.kind)),
                name=c.name,
                minutes=int(policy.arrival_window(c.tier).total_seconds() // 60) if c.tier in policy.tiers else "?",
            ),
        )
        for c in units
    ]


async def cmd_linked(
    message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox, bot: Bot
) -> None:
    """/linked: the linked units this administrator manages; /linked add CODE KIND TIER [PARENT NAME]: register one;
    a CSV or XLSX sent with the caption /linked: register them all (every bad row named; with any, none)."""
    if message.document is not None:
        document, limit = message.document, uc.config.table_limits.max_bytes
        if (document.file_size or 0) > limit:  # refused before a byte is downloaded
            out.send(message.chat.id, _("roster.error.too_big", limit=size_text(limit)))
            return
        buffer = io.BytesIO()
        await bot.download(document, destination=buffer)
        result = await uc.import_linked(buffer.getvalue(), document.file_name or "linked.csv")
        if result.problems:
            lines = [_("linked.import_failed")]
            for line, msgid, params, _english in result.problems[:30]:
                escaped = {k: escape(str(v)) for k, v in params.items()}
                lines.append((_("linked.line", n=line) if line else "") + _(msgid, **escaped))
            out.send(message.chat.id, "\n".join(lines))
        else:
            out.send(message.chat.id, _("linked.imported", n=len(result.added), codes=escape(join(result.added, _))))
        return
    words = (command.args or "").split()
    if words and words[0] == "add":
        added = await uc.add_linked(words[1:])
        out.send(message.chat.id, _("linked.added", **_linked_values(added, _, uc)))
        return
    units = await uc.linked_units()
    lines = [_("linked.title")] + [_("linked.item", **_linked_values(c, _, uc)) for c in units]
    if not units:
        lines.append(_("linked.none"))
    lines.append(_("linked.usage"))
    out.send(message.chat.id, "\n".join(lines))


def _linked_values(c: Candidate, _: Translator, uc: UseCases) -> dict[str, object]:
    policy = uc.config.dispatch
    minutes = int(policy.arrival_window(c.tier).total_seconds() // 60) if c.tier in policy.tiers else "?"
    return {"name": escape(c.name), "kind": _(policy.kinds.get(c.kind, c.kind)), "tier": c.tier, "minutes": minutes}


async def not_allowed(message: Message, _: Translator, out: Outbox) -> None:
    """A registered person who is not duty staff."""
    out.send(message.chat.id, _("dispatch.not_allowed"))


async def in_group(message: Message, _: Translator, out: Outbox) -> None:
    """Orders are made in the private chat with the bot (the form is a conversation)."""
    out.send(message.chat.id, _("dispatch.use_private_cmd"), reply_to_message_id=message.message_id)


def setup() -> Router:
    router = Router(name="dispatch")
    router.message.register(cmd_dispatch, Command("dispatch"), PRIVATE, MayUse("dispatch"))
    router.message.register(not_allowed, Command("dispatch"), PRIVATE, Registered())
    router.message.register(in_group, Command("dispatch"), ~PRIVATE)
    router.message.register(cmd_dispatches, Command("dispatches"), PRIVATE, MayUse("dispatches"))
    router.message.register(not_allowed, Command("dispatches"), PRIVATE, Registered())
    router.message.register(in_group, Command("dispatches"), ~PRIVATE)
    router.callback_query.register(on_order_button, OrderCb.filter())
    router.message.register(cmd_linked, Command("linked"), PRIVATE, MayUse("linked"))
    router.callback_query.register(on_incident_button, IncidentDispatchCb.filter())
    router.callback_query.register(on_button, DispatchCb.filter())
    arriving = StateFilter(ARRIVE)
    router.message.register(on_location, arriving, PRIVATE, Registered(), Magic(F.location))
    router.edited_message.register(on_live_location, arriving, PRIVATE, Registered(), Magic(F.location))
    return router
