"""Which use case files a finished form: each form names one (Form.submit)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from bot.usecases.common import Config, Member
from bot.usecases.dispatch import DispatchFiled, submit_dispatch, submit_feedback, submit_scene
from bot.usecases.followups import submit_final, submit_followup
from bot.usecases.reports import Filed, ReceiptPlace, submit_flash, submit_initial_report, submit_phone
from bot.usecases.warnings import WarningFiled, submit_warning
from storage.repositories import Repos


class Filer(Protocol):
    """Files a finished form; a report is written with where its receipt will be (see ReceiptPlace)."""

    def __call__(
        self,
        repos: Repos,
        user: Member,
        draft: Mapping[str, Any],
        extras: Mapping[str, Mapping[str, Any]],
        config: Config,
        receipt: ReceiptPlace | None = None,
    ) -> Awaitable[Filed | WarningFiled | DispatchFiled]: ...


FILERS: dict[str, Filer] = {
    "initial_report": submit_initial_report,
    "flash_report": submit_flash,
    "phone_report": submit_phone,
    "followup_report": submit_followup,
    "final_report": submit_final,
    "warning": submit_warning,
    "dispatch_order": submit_dispatch,
    "dispatch_scene": submit_scene,
    "dispatch_feedback": submit_feedback,
}
