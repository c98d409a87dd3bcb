"""Locale resolution: an explicit map that never raises (works around aiogram issue #1896)."""

from __future__ import annotations

SUPPORTED_LOCALES: tuple[str, ...] = ("zh_Hans", "en")

# Telegram language_code (IETF tag, lower-cased) -> our catalog. zh_Hant maps to zh_Hans
# until a zh_Hant catalog exists.
LANGUAGE_CODE_MAP: dict[str, str] = {
    "zh": "zh_Hans",
    "zh-cn": "zh_Hans",
    "zh-hans": "zh_Hans",
    "zh-sg": "zh_Hans",
    "zh-tw": "zh_Hans",
    "zh-hk": "zh_Hans",
    "zh-mo": "zh_Hans",
    "zh-hant": "zh_Hans",
    "en": "en",
}


def resolve_locale(stored: str | None, language_code: str | None, default: str) -> str:
    """Pick the catalog: the user's stored choice, else Telegram's language code, else the default."""
    if stored in SUPPORTED_LOCALES:
        return stored
    if isinstance(language_code, str) and language_code:
        code = language_code.strip().lower().replace("_", "-")
        if code in LANGUAGE_CODE_MAP:
            return LANGUAGE_CODE_MAP[code]
        primary = code.split("-", 1)[0]
        if primary == "en":
            return "en"
        if primary == "zh":
            return "zh_Hans"
    return default if default in SUPPORTED_LOCALES else SUPPORTED_LOCALES[0]
