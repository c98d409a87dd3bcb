"""Which use case files a finished form: each form names one (Form.submit)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.usecases.common import Config, Member
from bot.usecases.followups import submit_final, submit_followup
from bot.usecases.reports import Filed, submit_initial_report
from storage.repositories import Repos

Filer = Callable[[Repos, Member, Mapping[str, Any], Mapping[str, Mapping[str, Any]], Config], Awaitable[Filed]]

# Forms whose filer is not here yet (flash) exist as data and are not offered by any command.
FILERS: dict[str, Filer] = {
    "initial_report": submit_initial_report,
    "followup_report": submit_followup,
    "final_report": submit_final,
}
