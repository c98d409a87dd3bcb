"""One JSON codec for everything the bot encodes and decodes on its hot path: Bot API requests and answers,
the stored update inbox, outbox and conversation rows. orjson is several times faster than the standard
library and writes UTF-8 as it is (the standard library's default turns every Chinese character into a
six-byte escape), so requests are smaller too. Keys that are not strings are written as strings, as the
standard library does."""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=_OPTIONS).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)
