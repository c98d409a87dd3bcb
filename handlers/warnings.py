"""Early warnings: /warn (the form), approval and rejection, /warnings with a publisher's buttons (status,
adjust, lift, CAP), /warnstatus, the 收到 button, and a CAP file sent by a publisher."""

from __future__ import annotations

import io
import re
from html import escape

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.domain import cap
from bot.domain.access import Action
from bot.telegram.alerts import AlertCourier
from bot.telegram.callbacks import ReceivedCb, WarnCb
from bot.telegram.forms import FsmDrafts, show_turn
from bot.telegram.i18n import Translator
from bot.telegram.limiter import Priority
from bot.telegram.notifier import Outbox
from bot.telegram.warnings import approval_request, filed_lines, list_message, status_text
from bot.usecases.conversation import Turn
from bot.usecases.facade import UseCases
from bot.usecases.warnings import Decision, WarningFiled
from handlers.filters import PRIVATE, Magic, MayUse, Registered

# a publisher's button -> what it needs in the authorization table (bot.domain.access), checked before anything is read
BUTTON_ACTIONS = {
    "approve": Action.WARNING_DECIDE,
    "reject": Action.WARNING_DECIDE,
    "status": Action.WARNING_VIEW,
    "cap": Action.WARNING_VIEW,
    "adjust": Action.WARNING_ADJUST,
    "lift": Action.WARNING_LIFT,
    "lift_yes": Action.WARNING_LIFT,
}
REJECT_MARK = "✍️"  # the reject prompt starts with it (both catalogs): a reply to it is the reason
NUMBER = re.compile(r"YJ-\d{8}-\d{3,}")
CAP_MAX = cap.MAX_BYTES


async def open_warning(
    message: Message, state: FSMContext, uc: UseCases, _: Translator, out: Outbox, alerts: AlertCourier
) -> None:
    """/warn: the warning form (a waiting draft is offered first)."""
    turn = await uc.forms(FsmDrafts(state), _).start("warning", base=await uc.warning_base())
    await show(turn, uc, out, message.chat.id, _, state)


async def show(
    turn: Turn,
    uc: UseCases,
    out: Outbox,
    chat_id: int,
    _: Translator,
    state: FSMContext,
    edit_message_id: int | None = None,
) -> None:
    """A warning form's turn; once filed, the author's receipt and the approvers' previews."""
    filed = turn.filed
    if not isinstance(filed, WarningFiled):
        draft = await FsmDrafts(state).load() or {}
        show_turn(
            turn,
            out,
            chat_id,
            _,
            uc.config.tz,
            str(draft.get("form", "")),
            str(draft.get("token", "")),
            edit_message_id,
        )
        return
    await show_filed(filed, turn.summary, uc, out, chat_id, _, edit_message_id)


async def show_filed(
    filed: WarningFiled,
    summary: list[str],
    uc: UseCases,
    out: Outbox,
    chat_id: int,
    _: Translator,
    edit_message_id: int | None = None,
) -> None:
    text = "\n".join(filed_lines(filed, _))
    if edit_message_id is not None:
        out.edit_markup(chat_id, edit_message_id, None)
    out.send(chat_id, text)
    if filed.created and filed.state == "pending":
        b = await uc.warning_bulletin(filed.warning_id)
        if b is None:
            return
        for approver in filed.approvers:
            tr = _.for_locale(approver.locale or uc.config.default_locale)
            body, markup = approval_request(
                b.warning_id,
                b.number,
                b.fields,
                b.msg_type,
                filed.author,
                b.refers,
                b.before,
                tr,
                uc.config.tz,
                filed.reach,
            )
            out.send(approver.telegram_id, body, reply_markup=markup, priority=Priority.ALERT)


async def on_warn_button(
    query: CallbackQuery, callback_data: WarnCb, state: FSMContext, uc: UseCases, _: Translator, out: Outbox, bot: Bot
) -> None:
    """A publisher's button: approve, reject (asks the reason), adjust, lift (confirmed), status, CAP."""
    assert query.from_user is not None
    chat_id = query.message.chat.id if query.message else query.from_user.id
    message_id = query.message.message_id if query.message else None
    action, warning_id = callback_data.a, callback_data.w
    needs = BUTTON_ACTIONS.get(action)
    if needs is None:
        out.answer_callback(query.id, _("common.stale_button"), show_alert=True)
        return
    await uc.check_warning(needs, warning_id)  # another unit's warning, or one gone: refused in the press's popup
    if action == "approve":
        decision = await uc.decide_warning(warning_id, True)
        out.answer_callback(query.id, _(decision.code), show_alert=decision.code != "warning.approved")
        if decision.code == "warning.approved" and message_id is not None:
            out.edit_markup(chat_id, message_id, None)
        tell_author(decision, uc, out, _)
    elif action == "reject":
        out.answer_callback(query.id)
        bulletin = await uc.warning_bulletin(warning_id)
        if bulletin is not None:
            out.send(
                chat_id,
                _("warning.reject_prompt", number=bulletin.number),
                reply_markup=ForceReply(input_field_placeholder=_("warning.reject_placeholder")[:64]),
            )
    elif action == "status":
        out.answer_callback(query.id)
        status = await uc.warning_status(str(warning_id))
        out.send(chat_id, status_text(status, _, uc.config.tz) if status else _("common.stale_button"))
    elif action == "adjust":
        initial, subject = await uc.start_adjust(warning_id)  # (a refusal is the press's popup)
        out.answer_callback(query.id)
        turn = await uc.forms(FsmDrafts(state), _).start("warning", initial=initial, subject=subject)
        if turn.view is not None:
            about = _("warning.adjust_about", number=subject["number"])
            turn.lead = f"{about}\n{turn.lead}".strip()
        await show(turn, uc, out, chat_id, _, state)
    elif action == "lift":
        out.answer_callback(query.id)
        bulletin = await uc.warning_bulletin(warning_id)
        number = bulletin.number if bulletin else ""
        yes = WarnCb(a="lift_yes", w=warning_id).pack()
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=_("warning.button.lift_yes"), callback_data=yes)]]
        )
        out.send(chat_id, _("warning.lift_confirm", number=number), reply_markup=markup)
    elif action == "lift_yes":
        lifted = await uc.lift_warning(warning_id)
        out.answer_callback(query.id, _(lifted.code, number=lifted.number), show_alert=lifted.code != "warning.lifted")
        if message_id is not None:
            out.edit_markup(chat_id, message_id, None)
        if lifted.code == "warning.lifted":
            out.send(chat_id, _("warning.lift_done", number=lifted.number, n=lifted.recipients))
    else:  # "cap" (BUTTON_ACTIONS names every action this chain handles)
        out.answer_callback(query.id)
        await send_cap(str(warning_id), chat_id, uc, out, _, bot)


def tell_author(decision: Decision, uc: UseCases, out: Outbox, _: Translator) -> None:
    """The author hears what became of their warning (approved and sent, or rejected with the reason)."""
    w, author = decision.warning, decision.author
    if w is None or author is None or decision.code not in ("warning.approved", "warning.rejected"):
        return
    tr = _.for_locale(author.locale or uc.config.default_locale)
    by = escape(decision.approver.name if decision.approver else "")
    if decision.code == "warning.approved":
        text = tr("warning.author_approved", number=w.number, by=by, n=decision.recipients)
    else:
        text = tr("warning.author_rejected", number=w.number, by=by, reason=escape(w.reject_reason or ""))
    out.send(author.telegram_id, text, priority=Priority.ALERT)


async def on_reject_reason(message: Message, uc: UseCases, _: Translator, out: Outbox) -> None:
    """The reply to "why reject YJ-…?": the warning is rejected with that reason."""
    replied = message.reply_to_message
    found = NUMBER.search((replied.text or "") if replied else "")
    if found is None:
        return
    await _reject(found.group(0), message.text or "", message, uc, _, out)


async def cmd_reject(message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/reject YJ-… reason."""
    number, _sep, reason = (command.args or "").strip().partition(" ")
    if not number:
        out.send(message.chat.id, _("warning.reject_usage"))
        return
    await _reject(number, reason, message, uc, _, out)


async def _reject(number: str, reason: str, message: Message, uc: UseCases, _: Translator, out: Outbox) -> None:
    warning_id = await uc.warning_id(number)
    if warning_id is None:
        out.send(message.chat.id, _("warning.unknown", number=escape(number)))
        return
    decision = await uc.decide_warning(warning_id, False, reason)
    out.send(message.chat.id, _(decision.code))
    tell_author(decision, uc, out, _)


async def cmd_warnings(message: Message, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/warnings: active warnings first (a publisher gets the buttons)."""
    rows = await uc.warning_rows()
    manage = uc.user is not None and "publisher" in uc.user.roles
    text, markup = list_message(rows, _, uc.config.tz, manage)
    out.send(message.chat.id, text, reply_markup=markup)


async def cmd_warnstatus(message: Message, command: CommandObject, uc: UseCases, _: Translator, out: Outbox) -> None:
    """/warnstatus YJ-…: delivered, failed, unreachable, received, the units with unconfirmed recipients."""
    ref = (command.args or "").strip()
    if not ref:
        out.send(message.chat.id, _("warning.status_usage"))
        return
    status = await uc.warning_status(ref)
    out.send(
        message.chat.id,
        status_text(status, _, uc.config.tz) if status else _("warning.unknown", number=escape(ref[:40])),
    )


async def on_received(
    query: CallbackQuery, callback_data: ReceivedCb, uc: UseCases, _: Translator, out: Outbox
) -> None:
    """收到: recorded for this recipient (in a group, the first member to tap)."""
    if query.message is None:
        out.answer_callback(query.id, _("common.stale_button"), show_alert=True)
        return
    code = await uc.warning_received(callback_data.d, query.message.chat.id)
    out.answer_callback(query.id, _(code), show_alert=code not in ("warning.received", "warning.received_already"))


async def send_cap(ref: str, chat_id: int, uc: UseCases, out: Outbox, _: Translator, bot: Bot) -> None:
    message = await uc.cap_export(ref, uc.config.cap_sender)
    if message is None:
        out.send(chat_id, _("warning.unknown", number=escape(ref[:40])))
        return
    tr = {"zh-CN": _.for_locale("zh_Hans"), "en": _.for_locale("en")}
    data = cap.to_xml(message, uc.config.tz, tr)
    out.call(
        "send_document",
        durable=False,
        chat_id=chat_id,
        document=BufferedInputFile(data, filename=f"{message.identifier}.xml"),
        caption=_("warning.cap_caption", number=message.identifier),
    )


async def on_cap_file(message: Message, state: FSMContext, uc: UseCases, _: Translator, out: Outbox, bot: Bot) -> None:
    """A CAP file from a publisher: checked, then opened as a new warning draft (through the normal approval)."""
    document = message.document
    assert document is not None
    if (document.file_size or 0) > CAP_MAX:
        out.send(
            message.chat.id,
            _("warning.cap_invalid", element="file", reason=escape(f"{document.file_size} bytes > {CAP_MAX}")),
        )
        return
    buffer = io.BytesIO()
    await bot.download(document, destination=buffer)
    try:
        answers, base = await uc.cap_form(buffer.getvalue())
    except cap.CapError as exc:
        out.send(
            message.chat.id, _("warning.cap_invalid", element=escape(exc.element), reason=escape(exc.reason[:300]))
        )
        return
    turn = await uc.forms(FsmDrafts(state), _).start(
        "warning", initial=answers, base=base, fresh=True, first_unanswered=True
    )
    if turn.view is not None:
        imported = _("warning.cap_imported")
        turn.lead = f"{imported}\n{turn.lead}".strip()
    await show(turn, uc, out, message.chat.id, _, state)


async def not_publisher(message: Message, _: Translator, out: Outbox) -> None:
    out.send(message.chat.id, _("warning.not_publisher"))


async def warn_in_group(message: Message, _: Translator, out: Outbox) -> None:
    """A warning is composed in the private chat with the bot, never in a group."""
    out.send(message.chat.id, _("warning.use_private"), reply_to_message_id=message.message_id)


def setup() -> Router:
    router = Router(name="warnings")
    private = PRIVATE
    router.message.register(open_warning, Command("warn"), private, MayUse("warn"))
    router.message.register(warn_in_group, Command("warn"), ~private, MayUse("warn", anywhere=True))
    router.message.register(cmd_reject, Command("reject"), MayUse("reject"))
    router.message.register(not_publisher, Command("warn", "reject"), private, Registered())
    router.message.register(cmd_warnings, Command("warnings"), MayUse("warnings"))
    router.message.register(cmd_warnstatus, Command("warnstatus"), MayUse("warnstatus"))
    replying = Magic(F.reply_to_message.from_user.is_bot & F.reply_to_message.text.startswith(REJECT_MARK))
    router.message.register(
        on_reject_reason, private, MayUse("reject"), replying, Magic(F.text & ~F.text.startswith("/"))
    )
    xml = Magic(F.document & (F.document.file_name.lower().endswith(".xml") | F.document.mime_type.contains("xml")))
    router.message.register(on_cap_file, private, MayUse("warn"), xml)
    router.callback_query.register(on_warn_button, WarnCb.filter(), Registered())
    router.callback_query.register(on_received, ReceivedCb.filter())
    return router
