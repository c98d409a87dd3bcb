"""Split long message text below Telegram's 4096-character limit, at line breaks when possible."""

from __future__ import annotations

TELEGRAM_TEXT_LIMIT = 4096


def split_text(text: str, limit: int = TELEGRAM_TEXT_LIMIT - 96) -> list[str]:
    """Split text into chunks of at most `limit` characters, preferring line boundaries.

    The margin below 4096 leaves room for HTML entities that Telegram counts after parsing.
    A line is never split inside an HTML entity or tag when our own code made it.
    """
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = _safe_cut(line, limit)
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def _safe_cut(line: str, limit: int) -> int:
    """Cut position at or below limit that does not fall inside `&...;` or `<...>`."""
    cut = limit
    amp, semi = line.rfind("&", 0, cut), line.rfind(";", 0, cut)
    if amp > semi:
        cut = amp
    lt, gt = line.rfind("<", 0, cut), line.rfind(">", 0, cut)
    if lt > gt:
        cut = lt
    return cut if cut > 0 else limit
