"""The follow-up report (续报) form: domain rules §3, as data. It starts from the last report's figures
(`new_draft(initial=…, base=…)`); a figure lower than before needs a correction note."""

from __future__ import annotations

from bot.domain.text import N_
from conversations.form import Answers, Env, Form
from conversations.initial_report import ATTACHMENTS, CASUALTIES, field
from conversations.kinds import FreeText, Money


def lowered_figures(answers: Answers, env: Env) -> list[str]:
    """The figures (casualty keys, or "loss") now lower than in the base report: each needs a correction."""
    base = env.get("base") or {}
    lowered = []
    before, now = base.get("casualties") or {}, answers.get("casualties") or {}
    for key, was in before.items():
        figure = now.get(key)
        if isinstance(was, int) and isinstance(figure, int) and figure < was:
            lowered.append(key)
    was_loss, loss = base.get("loss"), answers.get("loss")
    if isinstance(was_loss, int) and isinstance(loss, int) and loss < was_loss:
        lowered.append("loss")
    return lowered


def needs_correction(answers: Answers, env: Env) -> bool:
    return bool(lowered_figures(answers, env))


FOLLOWUP_REPORT = Form(
    id="followup",
    version=1,
    title=N_("form.followup.title"),
    intro=N_("followup.intro"),
    submit="followup_report",
    done_text="numbered follow-up stored, duty group alerted with what changed",
    fields=(
        field("course", FreeText(max_length=3000)),
        field("situation", FreeText(max_length=3000)),
        field("consequences", FreeText(max_length=3000), required=False),
        CASUALTIES,
        field("loss", Money(), required=False),
        field(
            "correction",
            FreeText(max_length=1000),
            condition=needs_correction,
            condition_text="a figure is lower than in the last report",
            depends_on=("casualties", "loss"),
        ),
        field("measures", FreeText(max_length=3000)),
        field("next_steps", FreeText(max_length=3000), required=False),
        ATTACHMENTS,
    ),
)
