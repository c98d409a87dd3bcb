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
    call = SendMessage.model_construct(chat_id=7, text="河堤决口 <b>", reply_markup=markup,
                                       reply_parameters=ReplyParameters(message_id=3))  # fmt: skip
    body = session.json_body(bot, call)
    assert body == {"chat_id": 7, "text": "河堤决口 <b>", "parse_mode": "HTML", "reply_markup": markup,
                    "reply_parameters": {"message_id": 3, "quote_parse_mode": "HTML"}}  # fmt: skip
    upload = SendDocument(chat_id=7, document=BufferedInputFile(b"x", "a.xlsx"))
    assert session.json_body(bot, upload) is None  # multipart, as aiogram sends it
