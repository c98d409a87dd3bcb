"""The initial-report conversation: messages and buttons in, the form engine decides, screens out."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts import ack_keyboard, acknowledged_alert_text, queue_alerts
from bot.callbacks import AckCb, DraftCb, FormCb
from bot.domain.deadlines import DEADLINES
from bot.i18n import Catalogs, Translator
from bot.notifier import Outbox
from bot.presenters import local
from bot.settings import Settings
from bot.usecases.drafts import DRAFT_STATE
from bot.usecases.reports import acknowledge, submit_initial_report
from conversations import engine as fe
from conversations.initial_report import INITIAL_REPORT
from conversations.render import View, join, render, summary_lines
from handlers.filters import MayUse, Registered
from storage.models import User
from storage.repositories import Repos
from storage.types import utcnow

ENGINE = fe.Engine(INITIAL_REPORT)
MEDIA_KINDS = ("video", "voice", "audio", "document", "video_note")
EDITABLE_MAX = 4000


class ReportStates(StatesGroup):
    filling = State()


assert ReportStates.filling.state == DRAFT_STATE


def form_context(user: User, settings: Settings, _: Translator) -> fe.Context:
    profile = {"profile_contact": {"name": user.name, "phone": user.phone}} if user.phone else {}
    return fe.Context(now=utcnow(), tz=settings.tz, translate=_, profile=profile)


def markup(view: View, token: str) -> InlineKeyboardMarkup | ReplyKeyboardMarkup:
    if view.reply_keyboard:
        rows = [[KeyboardButton(text=view.request_location or "📍", request_location=True)]]
        rows += [[KeyboardButton(text=b.label) for b in row] for row in view.rows]
        return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=b.label, callback_data=FormCb(t=token, s=view.step, a=b.action, v=b.value).pack()
                )
                for b in row
            ]
            for row in view.rows
        ]
    )


def show(
    out: Outbox, chat_id: int, draft: dict[str, Any], view: View, _: Translator, edit_message_id: int | None = None
) -> None:
    """Send (or edit in place) a screen; close a location reply keyboard when leaving it."""
    token = draft["token"]
    if draft.get("reply_kb") and not view.reply_keyboard:
        out.send(chat_id, _("notice.keyboard_closed"), reply_markup=ReplyKeyboardRemove())
        draft["reply_kb"] = False
    if view.reply_keyboard:
        draft["reply_kb"] = True
    if edit_message_id is not None and not view.reply_keyboard and len(view.text) <= EDITABLE_MAX:
        out.edit(chat_id, edit_message_id, view.text, reply_markup=markup(view, token))
    else:
        out.send(chat_id, view.text, reply_markup=markup(view, token))


def to_event(message: Message) -> fe.Event:
    if message.text is not None:
        return fe.Text(message.text)
    if message.location is not None:
        return fe.Location(message.location.latitude, message.location.longitude)
    if message.contact is not None:
        name = " ".join(x for x in (message.contact.first_name, message.contact.last_name) if x)
        return fe.Contact(name, message.contact.phone_number)
    if message.photo:
        return fe.Media("photo", message.photo[-1].file_id, message.photo[-1].file_unique_id)
    for kind in MEDIA_KINDS:
        obj = getattr(message, kind)
        if obj is not None:
            return fe.Media(kind, obj.file_id, obj.file_unique_id)
    return fe.Unsupported(str(message.content_type))


async def start_form(
    out: Outbox, chat_id: int, user: User, state: FSMContext, settings: Settings, _: Translator
) -> None:
    draft = ENGINE.new_draft(secrets.token_hex(8), utcnow())
    view = render(ENGINE, draft, form_context(user, settings, _), _)
    view.text = _("report.intro") + "\n\n" + view.text
    show(out, chat_id, draft, view, _)
    await state.set_state(ReportStates.filling)
    await state.set_data({"draft": draft})


async def cmd_report(
    message: Message, user: User, state: FSMContext, settings: Settings, _: Translator, out: Outbox
) -> None:
    """Start an initial report, or offer to continue the saved draft."""
    draft = (await state.get_data()).get("draft")
    if await state.get_state() == DRAFT_STATE and draft:
        answered = sum(1 for f in ENGINE.form.visible(draft["answers"]) if fe.is_answered(f, draft["answers"]))
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=_("button.continue"), callback_data=DraftCb(t=draft["token"], a="continue").pack()
                    )
                ],
                [
                    InlineKeyboardButton(
                        text=_("button.restart"), callback_data=DraftCb(t=draft["token"], a="restart").pack()
                    )
                ],
            ]
        )
        total = len(ENGINE.expected(draft["answers"]))
        started = local(datetime.fromisoformat(draft["started_at"]), settings.tz)
        out.send(message.chat.id, _("report.draft_exists", answered=answered, total=total, started=started),
                 reply_markup=keyboard)  # fmt: skip
        return
    await start_form(out, message.chat.id, user, state, settings, _)


async def on_draft_button(
    query: CallbackQuery, callback_data: DraftCb, user: User, state: FSMContext, settings: Settings,
    _: Translator, out: Outbox,
) -> None:  # fmt: skip
    """Continue the saved draft where it stopped, or throw it away and start over."""
    out.answer_callback(query.id)
    chat_id = query.message.chat.id if query.message else user.telegram_id
    draft = (await state.get_data()).get("draft")
    if query.message is not None:
        out.edit_markup(chat_id, query.message.message_id, None)
    if callback_data.a == "restart" or not draft:
        await start_form(out, chat_id, user, state, settings, _)
        return
    if draft["token"] != callback_data.t:
        out.send(chat_id, _("common.stale_button"))
        return
    draft["reply_kb"] = False
    show(out, chat_id, draft, render(ENGINE, draft, form_context(user, settings, _), _), _)
    await state.set_data({"draft": draft})


async def on_form_message(
    message: Message, user: User, state: FSMContext, repos: Repos, settings: Settings, catalogs: Catalogs,
    sessionmaker: async_sessionmaker[AsyncSession], _: Translator, out: Outbox,
) -> None:  # fmt: skip
    """Anything the reporter sends while filling the form."""
    await step(to_event(message), message.chat.id, user, state, repos, settings, catalogs, sessionmaker, _, out)


async def on_form_button(
    query: CallbackQuery, callback_data: FormCb, user: User, state: FSMContext, repos: Repos, settings: Settings,
    catalogs: Catalogs, sessionmaker: async_sessionmaker[AsyncSession], _: Translator, out: Outbox,
) -> None:  # fmt: skip
    """A form button: only the current draft's current screen counts."""
    chat_id = query.message.chat.id if query.message else user.telegram_id
    draft = (await state.get_data()).get("draft") if await state.get_state() == DRAFT_STATE else None
    if draft is None or draft["token"] != callback_data.t:
        done = await repos.incidents.report_by_token(user.id, callback_data.t)
        if done is not None:
            incident = await repos.incidents.get(done.incident_id)
            out.answer_callback(query.id, _("report.already_submitted", number=incident.number if incident else "?"),
                                show_alert=True)  # fmt: skip
        else:
            out.answer_callback(query.id, _("common.stale_button"), show_alert=True)
        return
    event = fe.Action(callback_data.a, callback_data.v, step=callback_data.s)
    message_id = query.message.message_id if query.message else None
    await step(event, chat_id, user, state, repos, settings, catalogs, sessionmaker, _, out,
               query_id=query.id, edit_message_id=message_id)  # fmt: skip


async def step(
    event: fe.Event, chat_id: int, user: User, state: FSMContext, repos: Repos, settings: Settings,
    catalogs: Catalogs, sessionmaker: async_sessionmaker[AsyncSession], _: Translator, out: Outbox,
    query_id: str | None = None, edit_message_id: int | None = None,
) -> None:  # fmt: skip
    draft = (await state.get_data()).get("draft")
    if not draft:
        await state.clear()
        out.send(chat_id, _("common.stale_button"))
        return
    ctx = form_context(user, settings, _)
    outcome = ENGINE.handle(draft, event, ctx)
    if query_id is not None:
        alert = _(outcome.notice[0], **outcome.notice[1]) if outcome.stale and outcome.notice else None
        out.answer_callback(query_id, alert, show_alert=bool(alert))
    if outcome.cancelled:
        await state.clear()
        if edit_message_id is not None:
            out.edit_markup(chat_id, edit_message_id, None)
        out.send(chat_id, _("form.cancelled"), reply_markup=ReplyKeyboardRemove())
        return
    if outcome.submit:
        await submit(outcome.draft, chat_id, user, state, repos, settings, catalogs, sessionmaker, _, out,
                     edit_message_id)  # fmt: skip
        return
    new_draft = outcome.draft
    view = render(ENGINE, new_draft, ctx, _, outcome)
    show(out, chat_id, new_draft, view, _, None if outcome.stale else edit_message_id)
    await state.set_data({"draft": new_draft})


async def submit(
    draft: dict[str, Any], chat_id: int, user: User, state: FSMContext, repos: Repos, settings: Settings,
    catalogs: Catalogs, sessionmaker: async_sessionmaker[AsyncSession], _: Translator, out: Outbox,
    edit_message_id: int | None,
) -> None:  # fmt: skip
    now = utcnow()
    sub = await submit_initial_report(repos, user, ENGINE, draft, now, settings.tz)
    await state.clear()
    if not sub.created:
        if edit_message_id is not None:
            out.edit_markup(chat_id, edit_message_id, None)
        out.send(chat_id, _("report.already_submitted", number=sub.incident.number))
        return
    notified = await queue_alerts(sub, user, repos, settings, catalogs, sessionmaker, out)
    first_followup = DEADLINES["first_followup"]
    lines = [
        _("report.submitted", number=sub.incident.number),
        _("report.notified", who=join(notified, _)) if notified else _("report.notified_nobody"),
        _("report.next_deadline", due=local(sub.incident.next_due_at or now, settings.tz),
          hours=int(first_followup.after.total_seconds() // 3600)),
    ]  # fmt: skip
    if sub.report.late:
        lines.append(_("report.late", due=local(sub.incident.initial_due_at, settings.tz)))
    # The review message becomes the receipt: confirmation on top, the submitted answers below, no buttons.
    receipt = "\n".join([*lines, "", *summary_lines(ENGINE, draft["answers"], _, settings.tz)])
    if edit_message_id is not None and not draft.get("reply_kb") and len(receipt) <= EDITABLE_MAX:
        out.edit(chat_id, edit_message_id, receipt)
        return
    if edit_message_id is not None:
        out.edit_markup(chat_id, edit_message_id, None)
    out.send(chat_id, "\n".join(lines), reply_markup=ReplyKeyboardRemove() if draft.get("reply_kb") else None)


async def on_ack(
    query: CallbackQuery, callback_data: AckCb, user: User | None, repos: Repos, settings: Settings,
    catalogs: Catalogs, _: Translator, out: Outbox,
) -> None:  # fmt: skip
    """A duty officer acknowledges an alert; the alert shows who and when."""
    result = await acknowledge(repos, callback_data.alert, user, utcnow())
    if result.outcome == "unknown":
        out.answer_callback(query.id, _("common.stale_button"), show_alert=True)
        return
    if result.outcome == "refused":
        out.answer_callback(query.id, _("ack.refused"), show_alert=True)
        return
    if result.outcome == "already":
        out.answer_callback(query.id, _("ack.already"))
        return
    out.answer_callback(query.id, _("ack.done"))
    incident, alert = result.incident, result.alert
    assert incident is not None and alert is not None and user is not None
    text = await acknowledged_alert_text(repos, incident, alert.id, catalogs.translator(settings.default_locale),
                                         settings.tz)  # fmt: skip
    if query.message is not None:
        keyboard = ack_keyboard(alert.id, catalogs.translator(settings.default_locale))
        out.edit(query.message.chat.id, query.message.message_id, text, reply_markup=keyboard)


async def cmd_report_not_allowed(message: Message, _: Translator, out: Outbox) -> None:
    """A registered user whose roles do not include reporting."""
    out.send(message.chat.id, _("report.not_allowed"))


async def cmd_report_in_group(message: Message, _: Translator, out: Outbox) -> None:
    """Reports are filed in the private chat with the bot, never in a group."""
    out.send(message.chat.id, _("report.use_private"), reply_to_message_id=message.message_id)


def setup() -> Router:
    router = Router(name="report")
    private = F.chat.type == "private"
    router.message.register(cmd_report, Command("report"), private, MayUse("report"))
    router.message.register(cmd_report_not_allowed, Command("report"), private, Registered())
    router.message.register(cmd_report_in_group, Command("report"), ~private)
    router.message.register(
        on_form_message, ReportStates.filling, private, Registered(), Command("cancel", "back", "skip", "done")
    )
    router.message.register(on_form_message, ReportStates.filling, private, Registered(), ~F.text.startswith("/"))
    router.callback_query.register(on_form_button, FormCb.filter(), Registered())
    router.callback_query.register(on_draft_button, DraftCb.filter(), Registered())
    router.callback_query.register(on_ack, AckCb.filter())
    return router
