"""The Bot API session's JSON body: the fields aiogram's form would send, nested objects as JSON objects, the
bot's defaults filled in; a file upload stays a form."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.methods import SendDocument, SendMessage
from aiogram.types import BufferedInputFile, ReplyParameters

from bot.telegram.session import BotApiSession


def test_json_body_has_what_the_form_would_send() -> None:
    session = BotApiSession()
    bot = Bot("123:abc", session=session, default=DefaultBotProperties(parse_mode="HTML"))
    markup = {"inline_keyboard": [[{"text": "提交", "callback_data": "v2f:initial:t:90:submit:"}]]}
    call = SendMessage.model_construct(
        chat_id=7, text="河堤决口 <b>", reply_markup=markup, reply_parameters=ReplyParameters(message_id=3)
    )
    body = session.json_body(bot, call)
    assert body == {
        "chat_id": 7,
        "text": "河堤决口 <b>",
        "parse_mode": "HTML",
        "reply_markup": markup,
        "reply_parameters": {"message_id": 3, "quote_parse_mode": "HTML"},
    }
    upload = SendDocument(chat_id=7, document=BufferedInputFile(b"x", "a.xlsx"))
    assert session.json_body(bot, upload) is None  # multipart, as aiogram sends it


def test_an_answer_model_is_built_once_and_kept() -> None:
    """pydantic keeps generic classes in a weak cache: without the session's own reference, `Response[Message]`
    was built again after every garbage collection (about a tenth of the bot's CPU under load)."""
    import gc
    import weakref

    from aiogram.methods import SendContact
    from aiogram.methods.base import Response

    session = BotApiSession()
    bot = Bot("123:abc", session=session)
    answer = '{"ok": true, "result": {"message_id": 5, "date": 0, "chat": {"id": 7, "type": "private"}}}'
    call = SendContact(chat_id=7, phone_number="110", first_name="值班")
    assert session.check_response(bot, call, 200, answer).result.message_id == 5
    model = weakref.ref(Response[SendContact.__returning__])  # type: ignore[name-defined]
    gc.collect()
    assert model() is not None and Response[SendContact.__returning__] is model()  # type: ignore[name-defined]
