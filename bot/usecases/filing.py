"""Which use case files a finished form: each form names one (Form.submit)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.usecases.common import Config, Member
from bot.usecases.followups import submit_final, submit_followup
from bot.usecases.reports import Filed, submit_flash, submit_initial_report, submit_phone
from bot.usecases.warnings import WarningFiled, submit_warning
from storage.repositories import Repos

Filer = Callable[
    [Repos, Member, Mapping[str, Any], Mapping[str, Mapping[str, Any]], Config], Awaitable[Filed | WarningFiled]
]

FILERS: dict[str, Filer] = {
    "initial_report": submit_initial_report,
    "flash_report": submit_flash,
    "phone_report": submit_phone,
    "followup_report": submit_followup,
    "final_report": submit_final,
    "warning": submit_warning,
}
