"""Catalogs: Babel `.po` files compiled in memory at start-up, or the `.mo` files `compile-catalogs` wrote (the
Docker image's) when they are newer. A `.mo` file is read with the standard library's gettext, so a bot started
from compiled catalogs never loads Babel (about 0.7 MB of a process's memory); Babel reads and compiles `.po`."""

from __future__ import annotations

import gettext
import logging
from pathlib import Path
from typing import Any

from bot.domain.locales import SUPPORTED_LOCALES

log = logging.getLogger(__name__)
DOMAIN = "messages"


def _po_path(locales_dir: Path, locale: str) -> Path:
    return locales_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_messages(locales_dir: Path, locale: str) -> dict[str, str]:
    """A locale's translations by message id (untranslated and fuzzy entries left out, as `.mo` files leave them)."""
    po = _po_path(locales_dir, locale)
    mo = po.with_suffix(".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as f:
            compiled = gettext.GNUTranslations(f)
        catalog: dict[Any, Any] = compiled._catalog  # type: ignore[attr-defined]  # gettext's parsed table
        return {k: v for k, v in catalog.items() if isinstance(k, str) and k and v}
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        source = read_po(f, locale=locale)
    return {str(m.id): str(m.string) for m in source if m.id and m.string and not m.fuzzy}


def compile_catalogs(locales_dir: Path) -> list[Path]:
    """Write `.mo` files next to the `.po` files (used by the Docker build)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for locale in SUPPORTED_LOCALES:
        po = _po_path(locales_dir, locale)
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale)
        with po.with_suffix(".mo").open("wb") as f:
            write_mo(f, catalog)
        written.append(po.with_suffix(".mo"))
    return written


class Translator:
    """Translate message ids for one locale; `{name}` placeholders are filled from keywords."""

    def __init__(self, catalogs: Catalogs, locale: str) -> None:
        self.locale = locale
        self._catalogs = catalogs
        self._messages = catalogs.messages[locale]
        self._fallback = catalogs.messages[catalogs.default_locale]

    def for_locale(self, locale: str) -> Translator:
        """The translator of another locale (e.g. right after the user chose it)."""
        return self._catalogs.translator(locale)

    def __call__(self, msgid: str, /, **kwargs: Any) -> str:
        text = self._messages.get(msgid) or self._fallback.get(msgid)
        if text is None:
            log.error("missing catalog message %r", msgid)
            text = msgid
        return text.format(**kwargs) if kwargs else text


class Catalogs:
    def __init__(self, locales_dir: Path, default_locale: str) -> None:
        self.default_locale = default_locale
        self.messages: dict[str, dict[str, str]] = {}
        for locale in SUPPORTED_LOCALES:
            self.messages[locale] = read_messages(locales_dir, locale)
        self._translators = {loc: Translator(self, loc) for loc in self.messages}

    def translator(self, locale: str) -> Translator:
        return self._translators.get(locale) or self._translators[self.default_locale]
