"""Marking message ids in data so the catalog extractor sees them (translation happens at the edge); keeping secrets
out of texts that are logged or stored."""

import re


def N_(msgid: str) -> str:
    """Mark a catalog message id without translating it."""
    return msgid


# A Bot API token as it appears in URLs (…/bot123456:AA…/getFile, …/file/bot123456:AA…/documents/x) and texts.
_TOKEN = re.compile(r"\d{5,20}:[A-Za-z0-9_-]{30,}")
REDACTED = "<redacted>"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """The text without any Bot API token in it (the given secrets, and anything shaped like a token)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _TOKEN.sub(REDACTED, text)
