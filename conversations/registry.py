"""Every form, by id (the id travels in callback data and is stored with each draft)."""

from __future__ import annotations

from conversations.dispatch import DISPATCH_ORDER, FEEDBACK, SCENE_REPORT
from conversations.final import FINAL_REPORT
from conversations.flash import FLASH_REPORT
from conversations.followup import FOLLOWUP_REPORT
from conversations.form import Form
from conversations.initial_report import INITIAL_REPORT
from conversations.phone import PHONE_REPORT
from conversations.warning import WARNING

FORMS: dict[str, Form] = {
    f.id: f
    for f in (
        INITIAL_REPORT,
        FLASH_REPORT,
        FOLLOWUP_REPORT,
        FINAL_REPORT,
        PHONE_REPORT,
        WARNING,
        DISPATCH_ORDER,
        SCENE_REPORT,
        FEEDBACK,
    )
}
