"""The printed forms and the committed diagram come from the form data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.i18n import Catalogs
from bot.settings import DEFAULT_LOCALES_DIR
from conversations.describe import form_as_mermaid
from conversations.initial_report import INITIAL_REPORT

ROOT = Path(__file__).resolve().parent.parent
DIAGRAM = ROOT / "docs" / "forms.md"


def committed_doc() -> str:
    tr = Catalogs(DEFAULT_LOCALES_DIR, "zh_Hans").translator("en")
    body = form_as_mermaid(INITIAL_REPORT, tr)
    return (
        "# Forms\n\nGenerated from `conversations/` by `python -m bot forms --mermaid --locale en`;"
        " `tests/test_forms_describe.py` fails when this file and the form data disagree.\n\n"
        f"## {INITIAL_REPORT.id}\n\n```mermaid\n{body}```\n"
    )


def test_committed_diagram_matches_the_form_data() -> None:
    assert DIAGRAM.read_text(encoding="utf-8") == committed_doc(), "regenerate: python -m tests.test_forms_describe"


def test_forms_command_prints_every_field_and_json() -> None:
    text = subprocess.run([sys.executable, "-m", "bot", "forms"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert text.returncode == 0
    for f in INITIAL_REPORT.fields:
        assert f.id in text.stdout
    raw = subprocess.run(
        [sys.executable, "-m", "bot", "forms", "--json", "--locale", "en"], capture_output=True, text=True, cwd=ROOT,
        timeout=60,
    )  # fmt: skip
    data = json.loads(raw.stdout)
    fields = {f["id"]: f for f in data[0]["fields"]}
    assert list(fields) == [f.id for f in INITIAL_REPORT.fields]
    assert fields["loss"]["required"] is False and fields["subtype"]["condition"] == "category answered"
    assert fields["category"]["options"][0] == {"value": "natural", "label": "Natural disaster"}


if __name__ == "__main__":
    DIAGRAM.write_text(committed_doc(), encoding="utf-8")
