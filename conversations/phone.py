"""The phone report log (电话报告登记): duty staff record a report received by phone for a named reporter
(domain rules §6: every received report is logged with the time received). The reporters to choose from
come from the caller (`base["reporters"]`: the people of the duty officer's unit and the units below)."""

from __future__ import annotations

from bot.domain.text import N_
from conversations.addons import SuggestedGrade
from conversations.form import Answers, Env, Form, Option
from conversations.initial_report import CASUALTIES, CATEGORY, OCCURRED_AT, PLACE, SUBTYPE, field, grade_of
from conversations.kinds import Choice, DateTime, FreeText


def reporter_options(answers: Answers, env: Env) -> tuple[Option, ...]:
    people = (env.get("base") or {}).get("reporters") or []
    return tuple(Option(str(user_id), str(label), literal=True) for user_id, label in people)


PHONE_REPORT = Form(
    id="phone",
    version=1,
    title=N_("form.phone.title"),
    intro=N_("phone.intro"),
    submit="phone_report",
    done_text="logged with the time received; the named reporter owes the written report in 30 minutes",
    fields=(
        field("caller", Choice(options=reporter_options)),
        field("received_at", DateTime(quick=(0, 30))),
        field("what", FreeText(max_length=1000)),
        PLACE,
        OCCURRED_AT,
        CATEGORY,
        SUBTYPE,
        CASUALTIES,
    ),
    addons=(SuggestedGrade(grade_of),),
)
