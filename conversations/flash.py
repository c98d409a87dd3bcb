"""The flash report (快报) form: what, where, when, casualties known so far (domain rules §3), as data.
For an event that may be 重大 or worse, or when a full report cannot be written now."""

from __future__ import annotations

from bot.domain.text import N_
from conversations.addons import SuggestedGrade
from conversations.form import Form
from conversations.initial_report import ATTACHMENTS, CASUALTIES, CATEGORY, OCCURRED_AT, PLACE, SUBTYPE, field, grade_of
from conversations.kinds import FreeText

FLASH_REPORT = Form(
    id="flash",
    version=1,
    title=N_("form.flash.title"),
    intro=N_("flash.intro"),
    submit="flash_report",
    done_text="stored, duty group alerted at once, written report due in 30 minutes",
    fields=(
        field("what", FreeText(max_length=1000)),
        PLACE,
        OCCURRED_AT,
        CATEGORY,
        SUBTYPE,
        CASUALTIES,
        ATTACHMENTS,
    ),
    addons=(SuggestedGrade(grade_of),),
)
