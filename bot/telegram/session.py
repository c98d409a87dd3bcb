"""The Bot API session: aiogram's aiohttp session with two changes measured on the hot path.

1. A request without files goes as one JSON body (`application/json`, which the Bot API accepts for every
   method that uploads nothing) instead of a URL-encoded form. The form percent-encodes every byte of Chinese
   text (one character becomes nine bytes) and JSON-encodes each nested object separately; together that
   was about 5% of the bot's CPU per update, and the requests are smaller. Requests with files keep
   aiogram's multipart form. The values are prepared by aiogram's own `prepare_value` (defaults such as
   `parse_mode`, nested objects, dates), so the fields sent are the ones the form would have sent.
2. An answer whose result nobody reads (`result_unread()`: the notifier's messages without an `on_sent`) is
   checked for success only; it is not turned into aiogram's objects (a sent message with its chat, sender
   and keyboard is a dozen pydantic models). A failure is parsed and raised by aiogram as always (429s,
   migrations, blocked chats), so retries and error handling do not change.
3. The answer model of each method used (`Response[T]`) is built once and kept. aiogram builds
   `Response[method.__returning__]` for every answer, and pydantic keeps generic classes only in a weak cache:
   after a garbage collection each was built again from scratch (schema generation included, about 10% of the
   bot's CPU under load). They are kept for the methods this bot calls, when first called; building all 185 at
   start-up held 1.7 MB for methods it never calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiohttp import ClientError

if TYPE_CHECKING:
    from aiogram import Bot

_result_unread: ContextVar[bool] = ContextVar("kuaibao_result_unread", default=False)
_JSON = {"Content-Type": "application/json"}
_ANSWER_MODELS: dict[Any, Any] = {}  # Response[T] by T, kept for the life of the process (point 3 above)


@contextmanager
def result_unread() -> Iterator[None]:
    """Within this block (in this task), a successful Bot API answer is not parsed: the call returns None."""
    token = _result_unread.set(True)
    try:
        yield
    finally:
        _result_unread.reset(token)


class BotApiSession(AiohttpSession):
    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in _ANSWER_MODELS:
            _ANSWER_MODELS[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)

    def json_body(self, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
        """The request's fields as one JSON object, or None when it uploads a file (then it is a form)."""
        files: dict[str, Any] = {}
        body: dict[str, Any] = {}
        for key, value in (method.__dict__ | (method.__pydantic_extra__ or {})).items():
            if value is None or value == "":  # what aiogram's form leaves out
                continue
            if not isinstance(value, str | int | float):  # defaults, objects, dates, enums, files: as aiogram does
                value = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
                if value is None:
                    continue
            body[key] = value
        return None if files else body

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        body = self.json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=self.json_dumps(body).encode(),
                headers=_JSON,
                timeout=self.timeout if timeout is None else timeout,
            ) as resp:
                raw = await resp.read()
        except TimeoutError as exc:
            raise TelegramNetworkError(method=method, message="Request timeout error") from exc
        except ClientError as exc:
            raise TelegramNetworkError(method=method, message=f"{type(exc).__name__}: {exc}") from exc
        if _result_unread.get() and resp.status == 200:
            answer = self.json_loads(raw)
            if isinstance(answer, dict) and answer.get("ok") is True:
                return cast(TelegramType, None)
        text = raw.decode("utf-8", errors="replace")
        response = self.check_response(bot=bot, method=method, status_code=resp.status, content=text)
        return cast(TelegramType, response.result)
