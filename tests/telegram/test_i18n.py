"""Catalog completeness and locale resolution."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.app.settings import DEFAULT_LOCALES_DIR
from bot.domain.locales import SUPPORTED_LOCALES, resolve_locale
from bot.telegram.i18n import Catalogs, compile_catalogs

ROOT = Path(__file__).resolve().parents[2]


def used_message_ids() -> set[str]:
    ids: set[str] = set()
    for package in ("bot", "handlers", "conversations", "storage"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            ROOT / package,
            method_map=[("**.py", "python")],
            keywords={"_": None, "N_": None, "tr": None, "translate": None, "group_": None, "admin_": None},
        ):
            ids.add(message if isinstance(message, str) else message[0])
    return ids


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_message_is_translated_and_none_is_stale(locale: str) -> None:
    with (DEFAULT_LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    present = {m.id: m.string for m in catalog if m.id}
    used = used_message_ids()
    assert used, "extraction found no messages"
    missing = sorted(i for i in used if not present.get(i))
    stale = sorted(set(present) - used)
    assert not missing, f"{locale}: untranslated {missing}"
    assert not stale, f"{locale}: stale entries {stale}"


def test_placeholders_match_between_languages() -> None:
    import string

    cats = Catalogs(DEFAULT_LOCALES_DIR, "zh_Hans")
    for msgid, zh in cats.messages["zh_Hans"].items():
        names = {f[1] for f in string.Formatter().parse(zh) if f[1]}
        en = {f[1] for f in string.Formatter().parse(cats.messages["en"][msgid]) if f[1]}
        assert names == en, msgid


@pytest.mark.parametrize(
    ("stored", "code", "expected"),
    [
        ("en", "zh-hans", "en"),
        (None, "zh", "zh_Hans"),
        (None, "zh-CN", "zh_Hans"),
        (None, "zh-hans", "zh_Hans"),
        (None, "zh-sg", "zh_Hans"),
        (None, "zh-TW", "zh_Hans"),
        (None, "zh-hk", "zh_Hans"),
        (None, "zh-hant", "zh_Hans"),
        (None, "en", "en"),
        (None, "en-US", "en"),
        (None, "en_US", "en"),
        (None, "en-GB", "en"),
        (None, "ru", "zh_Hans"),
        (None, "", "zh_Hans"),
        (None, None, "zh_Hans"),
        (None, "!!@@", "zh_Hans"),
        ("xx", "-", "zh_Hans"),
    ],
)
def test_locale_resolution_never_raises(stored: str | None, code: str | None, expected: str) -> None:
    assert resolve_locale(stored, code, "zh_Hans") == expected


def test_compiled_catalogs_load(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(DEFAULT_LOCALES_DIR, tmp_path / "locales")
    written = compile_catalogs(tmp_path / "locales")
    assert len(written) == len(SUPPORTED_LOCALES)
    for po in (tmp_path / "locales").rglob("*.po"):
        po.unlink()  # the .mo files alone must be enough
    cats = Catalogs(tmp_path / "locales", "zh_Hans")
    assert cats.translator("en")("lang.saved") == "Language set to English."
    assert cats.messages == Catalogs(DEFAULT_LOCALES_DIR, "zh_Hans").messages  # every message, as the .po has it
    # read with the standard library: a bot started from compiled catalogs does not load Babel
    code = (
        "import sys; from pathlib import Path; from bot.telegram.i18n import Catalogs; "
        f"Catalogs(Path({str(tmp_path / 'locales')!r}), 'zh_Hans'); "
        "sys.exit(3 if 'babel' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0
