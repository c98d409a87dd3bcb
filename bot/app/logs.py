"""Logging for the bot's processes: every line and every traceback leaves through a formatter that removes the Bot API
token (aiogram puts it in its URLs, and so in the exceptions of a failed download or request)."""

from __future__ import annotations

import logging
import sys

from bot.domain.text import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then takes the token out of the whole text (message, arguments, traceback)."""

    def __init__(self, fmt: str, secrets: tuple[str, ...]) -> None:
        super().__init__(fmt)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def configure(level: str, secrets: tuple[str, ...] = ()) -> None:
    """Log to standard error through the redacting formatter (replacing any handler configured before)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(FORMAT, secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
