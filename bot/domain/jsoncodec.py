"""One JSON codec for everything the bot encodes and decodes on its hot path: Bot API requests and answers,
the stored update inbox, outbox and conversation rows. orjson is several times faster than the standard
library and writes UTF-8 as it is (the standard library's default turns every Chinese character into a
six-byte escape), so requests are smaller too. Keys that are not strings are written as strings, as the
standard library does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=_OPTIONS).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def copy(data: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON object as it is stored (a draft, a conversation's data): about twice as fast as a
    copy in Python and several times faster than copy.deepcopy."""
    return dict(orjson.loads(orjson.dumps(data, option=_OPTIONS)))
