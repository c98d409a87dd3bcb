"""The printed forms and the committed diagram come from the form data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.app.settings import DEFAULT_LOCALES_DIR
from bot.telegram.i18n import Catalogs
from conversations.describe import form_as_mermaid
from conversations.initial_report import INITIAL_REPORT
from conversations.registry import FORMS

ROOT = Path(__file__).resolve().parents[2]
DIAGRAM = ROOT / "docs" / "forms.md"


def committed_doc() -> str:
    tr = Catalogs(DEFAULT_LOCALES_DIR, "zh_Hans").translator("en")
    sections = [
        f"## {form.id} (version {form.version})\n\n```mermaid\n{form_as_mermaid(form, tr)}```\n"
        for form in FORMS.values()
    ]
    return (
        "# Forms\n\nGenerated from `conversations/` by `python -m bot forms --mermaid --locale en`;"
        " `tests/conversations/test_describe.py` fails when this file and the form data disagree.\n\n"
        + "\n".join(sections)
    )


def test_committed_diagram_matches_the_form_data() -> None:
    assert DIAGRAM.read_text(encoding="utf-8") == committed_doc(), (
        "regenerate: python -m tests.conversations.test_describe"
    )


def test_forms_command_prints_every_field_and_json() -> None:
    text = subprocess.run([sys.executable, "-m", "bot", "forms"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert text.returncode == 0
    for f in INITIAL_REPORT.fields:
        assert f.id in text.stdout
    raw = subprocess.run(
        [sys.executable, "-m", "bot", "forms", "--json", "--locale", "en"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    data = json.loads(raw.stdout)
    assert [f["id"] for f in data] == list(FORMS)
    fields = {f["id"]: f for f in data[0]["fields"]}
    assert list(fields) == [f.id for f in INITIAL_REPORT.fields]
    assert fields["loss"]["required"] is False and fields["subtype"]["condition"] == "category answered"
    assert fields["category"]["options"][0] == {"value": "natural", "label": "Natural disaster"}
    assert fields["occurred_at"]["limits"] == {"past": 30 * 86400, "future": 300}
    assert data[0]["review_addons"] == ["grade"] and data[0]["version"] == INITIAL_REPORT.version
    followup = {f["id"]: f for f in data[2]["fields"]}
    assert followup["correction"]["condition"] == "a figure is lower than in the last report"


if __name__ == "__main__":
    DIAGRAM.write_text(committed_doc(), encoding="utf-8")
