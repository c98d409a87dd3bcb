"""联动 dispatch's forms, as data (docs/dispatch.md): the order (派单: which linked units, the instruction, a meeting
point), and a unit's two answers on scene: the scene report (现场反馈) after arriving and the handling feedback
(处置反馈) when it is done. The units to choose from come from the caller (`base["units"]`: the linked units the
dispatcher may order out); the order's incident and a report's part travel in the draft's subject."""

from __future__ import annotations

from bot.domain.text import N_
from conversations.form import Answers, Env, Field, Form, Option
from conversations.kinds import Choice, FreeText, MultiChoice


def unit_options(answers: Answers, env: Env) -> tuple[Option, ...]:
    units = (env.get("base") or {}).get("units") or []
    return tuple(Option(str(linked_id), str(label), literal=True) for linked_id, label in units)


def needs_reinforcement(answers: Answers, env: Env) -> bool:
    return answers.get("reinforcement") == "yes"


DISPATCH_ORDER = Form(
    id="dispatch",
    version=1,
    title=N_("form.dispatch.title"),
    intro=N_("dispatch.intro"),
    submit="dispatch_order",
    done_text="order LD-… stored; each unit's duty group, liaisons and staff on duty get it with its buttons; "
    "the order's live board goes to the dispatching duty group",
    fields=(
        Field("units", MultiChoice(options=unit_options), N_("field.units.label"), N_("field.units.prompt")),
        Field(
            "instruction",
            FreeText(max_length=1000),
            N_("field.instruction.label"),
            N_("field.instruction.prompt"),
        ),
        Field(
            "meeting_point",
            FreeText(max_length=200),
            N_("field.meeting_point.label"),
            N_("field.meeting_point.prompt"),
            required=False,
        ),
    ),
)

REINFORCEMENT_OPTIONS = (Option("no", N_("reinforcement.no")), Option("yes", N_("reinforcement.yes")))

SCENE_REPORT = Form(
    id="scene",
    version=1,
    title=N_("form.scene.title"),
    intro=N_("scene.intro"),
    submit="dispatch_scene",
    done_text="the unit's part shows the scene report; the dispatching duty group's board and timeline get it",
    fields=(
        Field(
            "situation",
            FreeText(max_length=2000),
            N_("field.scene_situation.label"),
            N_("field.scene_situation.prompt"),
        ),
        Field(
            "casualties_seen",
            FreeText(max_length=500),
            N_("field.casualties_seen.label"),
            N_("field.casualties_seen.prompt"),
            required=False,
        ),
        Field(
            "reinforcement",
            Choice(options=REINFORCEMENT_OPTIONS),
            N_("field.reinforcement.label"),
            N_("field.reinforcement.prompt"),
        ),
        Field(
            "reinforcement_what",
            FreeText(max_length=500),
            N_("field.reinforcement_what.label"),
            N_("field.reinforcement_what.prompt"),
            condition=needs_reinforcement,
            condition_text="reinforcement is needed",
            depends_on=("reinforcement",),
        ),
    ),
)

FEEDBACK = Form(
    id="feedback",
    version=1,
    title=N_("form.feedback.title"),
    intro=N_("feedback.intro"),
    submit="dispatch_feedback",
    done_text="the unit's part is done; the board and the incident's timeline show the feedback",
    fields=(
        Field(
            "handling",
            FreeText(max_length=2000),
            N_("field.feedback_handling.label"),
            N_("field.feedback_handling.prompt"),
        ),
        Field(
            "remaining",
            FreeText(max_length=1000),
            N_("field.remaining.label"),
            N_("field.remaining.prompt"),
            required=False,
        ),
    ),
)
