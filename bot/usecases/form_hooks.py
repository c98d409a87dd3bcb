"""What each form needs beyond the one engine, declared per form: the session (bot.usecases.conversation) and the
handler (handlers.forms) run these and never branch on a form's id. A form without an entry needs none."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.access import Action
from bot.domain.grading import Grade, at_least
from bot.domain.text import N_
from bot.usecases import onboarding, warnings
from bot.usecases.common import Config, Member, may
from bot.usecases.reports import written_due
from storage.repositories import Repos

Translate = Callable[..., str]
# what a form's screens need from the database: (repos, person, config, draft or None) -> context values
Loader = Callable[[Repos, Member, Config, Mapping[str, Any] | None], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class FormHooks:
    """`standalone`: needs nothing from the caller to start (a waiting draft of another form may give way to it).
    `context`: values its screens read (Context.data), loaded before each screen. `review`: values its review screen
    reads, loaded for the answers as they stand. `review_lead`: a line above the review screen, from the form's
    extras (None: none). `base`: what its command opens it with. `owed_first`: its command offers the written report
    the person owes before a new one. `open_lead`: a line under its first screen when its command opens it. (How a
    filed result is shown follows from what filing returned: a report's receipt, or a warning's.)"""

    standalone: bool = False
    context: Loader | None = None
    review: Loader | None = None
    review_lead: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None] | None = None
    base: Callable[[Repos, Member, Translate], Awaitable[dict[str, Any]]] | None = None
    owed_first: bool = False
    open_lead: str | None = None


async def _warning_authority(
    repos: Repos, user: Member, config: Config, draft: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {"authority": await warnings.authority_of(repos, user)}


async def _warning_reach(repos: Repos, user: Member, config: Config, draft: Mapping[str, Any] | None) -> dict[str, Any]:
    """The warning's review shows how many it reaches, counted for the answers as they stand."""
    assert draft is not None
    return {"reach": await warnings.reach(repos, user, draft["answers"], draft.get("subject"), config)}


def _major_first(extras: Mapping[str, Any], draft: Mapping[str, Any]) -> str | None:
    """An initial report that may be 重大 or worse: a flash report first (not for a written report: it has one)."""
    suggested = (extras.get("grade") or {}).get("suggested")
    if not draft.get("subject") and suggested and at_least(suggested, Grade.II):
        return N_("flash.offer_major")
    return None


async def _phone_reporters(repos: Repos, user: Member, translate: Translate) -> dict[str, Any]:
    """The people a phone report may be logged for: active people of the logger's unit and the units below."""
    from bot.usecases.common import Refused

    if not await may(repos, user, Action.PHONE_FOR, unit_id=user.unit_id):
        raise Refused(N_("common.not_permitted"))
    people = await onboarding.people_below(repos, user.unit_id)
    return {"reporters": [(uid, translate(N_("phone.caller"), name=name, unit=unit)) for uid, name, unit in people]}


HOOKS: dict[str, FormHooks] = {
    "initial": FormHooks(standalone=True, review_lead=_major_first, owed_first=True, open_lead=N_("flash.offer")),
    "flash": FormHooks(standalone=True),
    "phone": FormHooks(base=_phone_reporters),
    "warning": FormHooks(context=_warning_authority, review=_warning_reach),
}
NONE = FormHooks()


def hooks_of(form_id: str) -> FormHooks:
    return HOOKS.get(form_id, NONE)


async def owed_written(repos: Repos, user: Member, form_id: str) -> int | None:
    """The incident whose written report the person owes, when the form's command offers it first."""
    return await written_due(repos, user) if hooks_of(form_id).owed_first else None
