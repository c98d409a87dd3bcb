"""Rules across fields, for a form's `validate` hook. Pure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.domain.text import N_
from conversations.form import Answers, Env, Problem


def ends_after(start: str, end: str) -> Callable[[Answers, Env], Problem | None]:
    """The `end` time must come after the `start` time (a warning's expected end after its start)."""

    def check(answers: Answers, env: Env) -> Problem | None:
        a, b = answers.get(start), answers.get(end)
        if a and b and datetime.fromisoformat(b) <= datetime.fromisoformat(a):
            return Problem(end, N_("error.end_before_start"))
        return None

    return check
