"""The final report (终报/结案报告) form: domain rules §3, as data. Its figures start from the last
follow-up's (`new_draft(initial=…, base=…)`); a figure lower than before needs a correction note."""

from __future__ import annotations

from bot.domain.text import N_
from conversations.followup import needs_correction
from conversations.form import Form
from conversations.initial_report import ATTACHMENTS, CASUALTIES, field
from conversations.kinds import FreeText, Money

FINAL_REPORT = Form(
    id="final",
    version=1,
    title=N_("form.final.title"),
    intro=N_("final.intro"),
    submit="final_report",
    done_text="final figures stored, incident closed, duty group alerted with what changed",
    fields=(
        field("handling", FreeText(max_length=3000)),
        field("impact", FreeText(max_length=3000)),
        CASUALTIES,
        field("loss", Money(), required=False),
        field(
            "correction",
            FreeText(max_length=1000),
            condition=needs_correction,
            condition_text="a figure is lower than in the last report",
            depends_on=("casualties", "loss"),
        ),
        field("lessons", FreeText(max_length=3000)),
        field("prevention", FreeText(max_length=3000)),
        ATTACHMENTS,
    ),
)
