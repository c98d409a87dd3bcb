"""Every form's conversation: a command opens its form, messages and buttons go to the form use case,
its turns come back as screens. One handler for all forms (FORM_COMMANDS names which command opens which)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.telegram.alerts import AlertCourier
from bot.telegram.callbacks import DraftCb, FormCb, OpenCb
from bot.telegram.dispatch import show_dispatched
from bot.telegram.forms import FsmDrafts, show_turn, to_event
from bot.telegram.i18n import Translator
from bot.telegram.keyboards import incident_picker
from bot.telegram.notifier import Outbox
from bot.usecases.conversation import Turn
from bot.usecases.dispatch import DispatchFiled
from bot.usecases.drafts import DRAFT_STATES
from bot.usecases.facade import UseCases
from bot.usecases.reports import ReceiptPlace
from bot.usecases.warnings import WarningFiled
from conversations.events import Action
from handlers.filters import PRIVATE, Magic, MayUse, Registered
from handlers.warnings import show_filed

# command -> form id. The follow-up and the final report are about an incident: /followup and /final below.
FORM_COMMANDS: dict[str, str] = {"report": "initial", "flash": "flash", "phone": "phone"}


async def _show(
    turn: Turn,
    uc: UseCases,
    out: Outbox,
    chat_id: int,
    _: Translator,
    alerts: AlertCourier,
    form_id: str,
    token: str,
    edit_message_id: int | None = None,
    receipt: ReceiptPlace | None = None,
) -> None:
    """`receipt`: where the step told filing the receipt would be; recorded again only when it went elsewhere."""
    if isinstance(turn.filed, WarningFiled):  # its form's result is shown so (FormHooks.result)
        await show_filed(turn.filed, turn.summary, uc, out, chat_id, _, edit_message_id)
        return
    if isinstance(turn.filed, DispatchFiled):
        show_dispatched(turn.filed, out, chat_id, _, uc.config, edit_message_id)
        return
    receipt_at = show_turn(turn, out, chat_id, _, uc.config.tz, form_id, token, edit_message_id)
    if turn.filed is not None and turn.filed.created:
        if receipt != (chat_id, receipt_at, _.locale):  # (a long receipt, a keyboard to close: a new message)
            await uc.record_receipt(turn.filed.report_id, chat_id, receipt_at, _.locale)
        alerts.after_filing(turn.filed, out, (chat_id, receipt_at, _.locale))


async def show(
    turn: Turn, uc: UseCases, out: Outbox, chat_id: int, _: Translator, alerts: AlertCourier, state: FSMContext
) -> None:
    """A turn of a form another router opened (dispatch's forms)."""
    await _show(turn, uc, out, chat_id, _, alerts, *await _current(state))


async def _current(state: FSMContext) -> tuple[str, str]:
    draft = await FsmDrafts(state).load() or {}
    return str(draft.get("form", "")), str(draft.get("token", ""))


async def open_form(
    message: Message, state: FSMContext, uc: UseCases, _: Translator, out: Outbox, alerts: AlertCourier
) -> None:
    """Start the command's form, or offer to continue a saved draft."""
    command = (message.text or "").split()[0].lstrip("/").split("@")[0]
    turn = await uc.forms(FsmDrafts(state), _).open(FORM_COMMANDS[command])
    await _show(turn, uc, out, message.chat.id, _, alerts, *await _current(state))


async def on_draft_button(
    query: CallbackQuery,
    callback_data: DraftCb,
    state: FSMContext,
    uc: UseCases,
    _: Translator,
    out: Outbox,
    alerts: AlertCourier,
) -> None:
    """Continue the saved draft where it stopped, or throw it away and start over."""
    out.answer_callback(query.id)
    assert query.from_user is not None
    chat_id = query.message.chat.id if query.message else query.from_user.id
    if query.message is not None:
        out.edit_markup(chat_id, query.message.message_id, None)
    turn = await uc.forms(FsmDrafts(state), _).resume(
        callback_data.t, restart=callback_data.a == "restart", instead=callback_data.f
    )
    turn.edit = False
    await _show(turn, uc, out, chat_id, _, alerts, *await _current(state))


async def on_form_message(
    message: Message, state: FSMContext, uc: UseCases, _: Translator, out: Outbox, alerts: AlertCourier
) -> None:
    """Anything the person sends while filling a form."""
    receipt = ReceiptPlace(message.chat.id, None, _.locale)  # typed 提交: the receipt comes as a new message
    turn = await uc.forms(FsmDrafts(state), _).step(to_event(message), receipt=receipt)
    await _show(turn, uc, out, message.chat.id, _, alerts, *await _current(state), receipt=receipt)


async def on_form_button(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    uc: UseCases,
    _: Translator,
    out: Outbox,
    alerts: AlertCourier,
) -> None:
    """A form button: only the current draft's current screen counts (a second tap is ignored quietly)."""
    assert query.from_user is not None
    chat_id = query.message.chat.id if query.message else query.from_user.id
    action = Action(callback_data.a, callback_data.v, step=callback_data.s)
    message_id = query.message.message_id if query.message else None
    receipt = ReceiptPlace(chat_id, message_id, _.locale)  # a tapped 提交: the review message becomes the receipt
    turn = await uc.forms(FsmDrafts(state), _).step(action, callback_data.f, callback_data.t, receipt)
    if turn.answer is not None and turn.view is None and turn.filed is None:
        filed = await uc.filed_from(callback_data.t)
        text = _("report.already_submitted", number=filed) if filed else turn.answer
        out.answer_callback(query.id, text, show_alert=True)
        return
    out.answer_callback(query.id, turn.answer, show_alert=turn.answer is not None)
    await _show(turn, uc, out, chat_id, _, alerts, *await _current(state), edit_message_id=message_id, receipt=receipt)


async def open_about_incident(
    message: Message, state: FSMContext, uc: UseCases, _: Translator, out: Outbox, alerts: AlertCourier
) -> None:
    """/followup, /final: pick one of the open incidents (one alone opens at once)."""
    kind = (message.text or "").split()[0].lstrip("/").split("@")[0]
    choices = await uc.open_incidents()
    if not choices:
        out.send(message.chat.id, _("followup.none"))
    elif len(choices) == 1:
        await _open_about(kind, choices[0].id, message.chat.id, state, uc, _, out, alerts)
    else:
        out.send(
            message.chat.id,
            _("final.pick") if kind == "final" else _("followup.pick"),
            reply_markup=incident_picker(choices, _, uc.config.tz, kind),
        )


async def on_open_button(
    query: CallbackQuery,
    callback_data: OpenCb,
    state: FSMContext,
    uc: UseCases,
    _: Translator,
    out: Outbox,
    alerts: AlertCourier,
) -> None:
    """A receipt's, a reminder's or a picker's button: the form about that incident (a refusal is the press's popup)."""
    await _open_about(callback_data.f, callback_data.i, query.from_user.id, state, uc, _, out, alerts)
    out.answer_callback(query.id)


async def _open_about(
    form_id: str,
    incident_id: int,
    chat_id: int,
    state: FSMContext,
    uc: UseCases,
    _: Translator,
    out: Outbox,
    alerts: AlertCourier,
) -> None:
    if form_id == "initial" and incident_id == 0:  # a new event, although a written report is owed
        turn = await uc.forms(FsmDrafts(state), _).start("initial")
        await _show(turn, uc, out, chat_id, _, alerts, *await _current(state))
        return
    if form_id == "initial":
        await _open_written(incident_id, chat_id, state, uc, _, out, alerts)
        return
    if form_id not in ("followup", "final"):
        out.send(chat_id, _("common.stale_button"))
        return
    start = await uc.start_followup(incident_id, form_id)
    turn = await uc.forms(FsmDrafts(state), _).start(
        form_id, initial=start.figures, base=start.figures, subject=start.subject
    )
    if turn.view is not None:
        number, seq = start.subject["number"], start.subject["seq"]
        about = _("final.about", number=number) if form_id == "final" else _("followup.about", number=number, n=seq)
        turn.lead = f"{about}\n{turn.lead}".strip()
    await _show(turn, uc, out, chat_id, _, alerts, *await _current(state))


async def _open_written(
    incident_id: int, chat_id: int, state: FSMContext, uc: UseCases, _: Translator, out: Outbox, alerts: AlertCourier
) -> None:
    """The written initial report after a flash or phone report: prefilled with what is known."""
    subject, known = await uc.start_written(incident_id)
    turn = await uc.forms(FsmDrafts(state), _).start("initial", initial=known, subject=subject)
    if turn.view is not None:
        about = _("written.about", number=subject["number"])
        turn.lead = f"{about}\n{turn.lead}".strip()
    await _show(turn, uc, out, chat_id, _, alerts, *await _current(state))


async def not_allowed(message: Message, _: Translator, out: Outbox) -> None:
    """A registered user whose roles do not include this form."""
    out.send(message.chat.id, _("report.not_allowed"))


async def in_group(message: Message, _: Translator, out: Outbox) -> None:
    """Reports are filed in the private chat with the bot, never in a group."""
    out.send(message.chat.id, _("report.use_private"), reply_to_message_id=message.message_id)


def setup() -> Router:
    router = Router(name="forms")
    private = PRIVATE
    for command in FORM_COMMANDS:
        router.message.register(open_form, Command(command), private, MayUse(command))
        router.message.register(not_allowed, Command(command), private, Registered())
        router.message.register(in_group, Command(command), ~private)
    filling = StateFilter(*DRAFT_STATES)
    for command in ("followup", "final"):
        router.message.register(open_about_incident, Command(command), private, MayUse(command))
        router.message.register(not_allowed, Command(command), private, Registered())
        router.message.register(in_group, Command(command), ~private)
    router.callback_query.register(on_open_button, OpenCb.filter(), Registered())
    router.message.register(on_form_message, filling, private, Registered(), Command("cancel", "back", "skip", "done"))
    router.message.register(on_form_message, filling, private, Registered(), Magic(~F.text.startswith("/")))
    router.callback_query.register(on_draft_button, DraftCb.filter(), Registered())  # (form buttons: setup_fast)
    return router


def setup_fast() -> Router:
    """The two updates most of a form is made of, tried before every other router: a tapped form button, and
    plain text typed into a form (not a command, not a reply: those can be meant for earlier routers, e.g. the
    reason for a rejected warning). Nothing before the forms' router takes either; going through twenty-odd
    command filters first cost about 4% of the bot's CPU per update. Everything else takes the normal route."""
    router = Router(name="forms-fast")
    typed = Magic(F.text & ~F.text.startswith("/") & ~F.reply_to_message)
    router.message.register(on_form_message, StateFilter(*DRAFT_STATES), PRIVATE, Registered(), typed)
    router.callback_query.register(on_form_button, FormCb.filter(), Registered())
    return router
