"""A person filling a form: start, continue or restart a draft, take one input, file the result.

The draft lives wherever the adapter keeps conversation state (a DraftStore); the screens come back
as data (conversations.view.View) for the adapter to show.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from html import escape
from typing import Any, Protocol

from bot.domain.clock import format_local
from bot.domain.text import N_
from bot.usecases import warnings
from bot.usecases.common import Config, Member, Refused
from bot.usecases.dispatch import DispatchFiled
from bot.usecases.filing import FILERS
from bot.usecases.form_hooks import hooks_of, owed_written
from bot.usecases.reports import Filed, ReceiptPlace
from conversations.engine import Context, Engine, Outcome
from conversations.events import Event
from conversations.form import Form
from conversations.registry import FORMS
from conversations.render import notice_text, render, summary_lines
from conversations.view import View
from storage.repositories import Repos


class DraftStore(Protocol):
    async def load(self) -> dict[str, Any] | None: ...

    async def save(self, draft: dict[str, Any]) -> None: ...

    async def clear(self) -> None: ...


@dataclass(frozen=True)
class DraftOffer:
    """A draft is waiting: continue it or start over."""

    token: str
    title: str  # catalog id of its form
    answered: int
    total: int
    started_at: datetime
    instead: str = ""  # the form asked for, when it is another one that needs nothing to start (flash)
    instead_title: str = ""


@dataclass
class Turn:
    """What the person sees after one input."""

    view: View | None = None  # the next screen
    lead: str = ""  # text above the screen (an introduction, or why the draft restarted)
    close_keyboard: bool = False  # a reply keyboard (share location) was open and is not needed now
    edit: bool = True  # the screen may replace the message whose button was tapped
    answer: str | None = None  # text for the tapped button's small answer (a stale button)
    say: str | None = None  # a message on its own (cancelled, nothing to continue)
    offer: DraftOffer | None = None
    owed_written: int | None = None  # the incident whose written report is owed: write that one, or a new report?
    filed: Filed | warnings.WarningFiled | DispatchFiled | None = None
    summary: list[str] = field(default_factory=list)  # the filed answers, for the receipt
    quiet: bool = False  # nothing to show


class FormSession:
    """One person's forms, in one update's transaction."""

    def __init__(
        self, repos: Repos, user: Member, config: Config, drafts: DraftStore, translate: Callable[..., str]
    ) -> None:
        self.repos, self.user, self.config, self.drafts, self.translate = repos, user, config, drafts, translate
        self.extra: dict[str, Any] = {}  # what a form needs from the database (the warning's authority, reach)
        self._loaded: set[str] = set()  # forms whose context is in `extra`

    def context(self) -> Context:
        data: dict[str, Any] = dict(self.extra)
        if self.user.phone:
            data["profile_contact"] = {"name": self.user.name, "phone": self.user.phone}
        return Context(now=self.config.clock(), tz=self.config.tz, translate=self.translate, data=data)

    async def _prepare(self, form: Form, draft: Mapping[str, Any] | None = None) -> None:
        """Load what the form's screens read (its hooks), and for its review what the answers as they stand give."""
        hooks = hooks_of(form.id)
        if hooks.context is not None and form.id not in self._loaded:  # once per update
            self.extra.update(await hooks.context(self.repos, self.user, self.config, draft))
            self._loaded.add(form.id)
        if hooks.review is not None and draft is not None and draft.get("mode") == "review":
            self.extra.update(await hooks.review(self.repos, self.user, self.config, draft))

    async def open(self, form_id: str) -> Turn:
        """A form opened by its command: what its hooks ask first (a written report owed), what it opens with
        (the people a phone report may be for), then start (or offer the waiting draft)."""
        hooks = hooks_of(form_id)
        owed = await owed_written(self.repos, self.user, form_id)
        if owed is not None:
            return Turn(owed_written=owed)
        base = await hooks.base(self.repos, self.user, self.translate) if hooks.base is not None else None
        turn = await self.start(form_id, base=base)
        if hooks.open_lead and turn.view is not None:
            turn.lead = f"{turn.lead}\n{self.translate(hooks.open_lead)}".strip()
        return turn

    async def start(
        self,
        form_id: str,
        *,
        initial: Mapping[str, Any] | None = None,
        base: Mapping[str, Any] | None = None,
        subject: Any = None,
        fresh: bool = False,
        first_unanswered: bool = False,
    ) -> Turn:
        """Open a form; when a draft is waiting (and `fresh` is not asked), offer to continue it instead."""
        if not fresh:
            waiting = await self.drafts.load()
            if waiting:
                form = FORMS.get(str(waiting.get("form")))
                if form is None or not Engine(form).compatible(waiting):
                    return await self._restart_outdated(waiting, form_id)
                offer = self._offer(form, waiting)
                if form_id != form.id and hooks_of(form_id).standalone and not (initial or base or subject):
                    offer = replace(offer, instead=form_id, instead_title=FORMS[form_id].title)
                return Turn(offer=offer)
        engine = Engine(FORMS[form_id])
        await self._prepare(engine.form)
        draft = engine.new_draft(secrets.token_hex(8), self.config.clock(), initial, base, subject, first_unanswered)
        turn = await self._show(engine, draft, None)
        if engine.form.intro:
            turn.lead = self.translate(engine.form.intro)
        return turn

    def _offer(self, form: Form, draft: Mapping[str, Any]) -> DraftOffer:
        engine, ctx = Engine(form), self.context()
        answered, total = engine.answered_count(draft, ctx), len(engine.expected(draft, ctx))
        return DraftOffer(draft["token"], form.title, answered, total, _started(draft))

    async def resume(self, token: str, restart: bool, instead: str = "") -> Turn:
        """The answer to a DraftOffer: continue the waiting draft, or throw it away and start over (or start
        the form that was asked for instead)."""
        draft = await self.drafts.load()
        if not draft or draft.get("token") != token:
            return Turn(say=self.translate(N_("common.stale_button")))
        form_id = str(draft.get("form")) if draft.get("form") in FORMS else "initial"
        if restart:
            await self.repos.audit.record(
                f"tg:{self.user.telegram_id}",
                "draft.discard",
                "draft",
                token[:64],
                before={"form": form_id},
                after={"instead": instead or form_id},
            )
            return await self.start(
                instead if instead in FORMS and hooks_of(instead).standalone else form_id, fresh=True
            )
        engine = Engine(FORMS[form_id])
        if not engine.compatible(draft):
            return await self._restart_outdated(draft)
        draft["reply_kb"] = False  # the keyboard of an earlier screen is gone from the phone by now
        return await self._show(engine, draft, None)

    async def step(
        self, event: Event, form_id: str | None = None, token: str | None = None, receipt: ReceiptPlace | None = None
    ) -> Turn:
        """One input: typed text, a tapped button (with the form and draft it belongs to), a location…
        `receipt`: where a report's receipt will be if this input files it."""
        draft = await self.drafts.load()
        if not draft or (token is not None and (draft.get("token") != token or draft.get("form") != form_id)):
            return Turn(
                answer=self.translate(N_("common.stale_button")),
                say=None if token else self.translate(N_("common.stale_button")),
            )
        form = FORMS.get(str(draft.get("form")))
        if form is None or not Engine(form).compatible(draft):
            return await self._restart_outdated(draft)
        engine = Engine(form)
        await self._prepare(form, draft)
        ctx = self.context()
        outcome = engine.handle(draft, event, ctx)
        if outcome.duplicate:
            return Turn(quiet=True)
        if outcome.stale and token is not None:  # an old screen's button: its alert says so, the screen stays
            return Turn(answer=notice_text(outcome, self.translate).removeprefix("⚠️ "))
        if outcome.cancelled:
            await self.drafts.clear()
            return Turn(say=self.translate(N_("form.cancelled")), close_keyboard=True)
        if outcome.submit:
            return await self._file(engine, outcome.draft, ctx, receipt)
        if outcome.quiet:
            await self.drafts.save(outcome.draft)
            return Turn(quiet=True)
        turn = await self._show(engine, outcome.draft, outcome)
        if outcome.stale:
            turn.answer, turn.edit = notice_text(outcome, self.translate).removeprefix("⚠️ "), False
        return turn

    async def _show(self, engine: Engine, draft: dict[str, Any], outcome: Outcome | None) -> Turn:
        await self._prepare(engine.form, draft)
        ctx = self.context()
        view = render(engine, draft, ctx, outcome)
        close = bool(draft.get("reply_kb")) and not view.reply_keyboard
        draft["reply_kb"] = view.reply_keyboard
        await self.drafts.save(draft)
        turn = Turn(view=view, close_keyboard=close)
        review_lead = hooks_of(engine.form.id).review_lead
        if review_lead is not None and draft.get("mode") == "review":
            lead = review_lead(engine.extras(draft, ctx), draft)
            if lead:
                turn.lead = self.translate(lead)
        return turn

    async def _restart_outdated(self, draft: Mapping[str, Any], form_id: str | None = None) -> Turn:
        """A draft of an older version of its form (a deploy changed the form): start again, politely."""
        form_id = form_id or (str(draft.get("form")) if draft.get("form") in FORMS else "initial")
        await self.repos.audit.record(
            f"tg:{self.user.telegram_id}",
            "draft.restart_outdated",
            "draft",
            str(draft.get("token", ""))[:64],
            before={"form": draft.get("form"), "version": draft.get("version")},
        )
        turn = await self.start(form_id, fresh=True)
        turn.lead = self.translate(N_("form.outdated"), started=_local(draft, self.config))
        turn.edit = False
        return turn

    async def _file(self, engine: Engine, draft: dict[str, Any], ctx: Context, receipt: ReceiptPlace | None) -> Turn:
        filer = FILERS[engine.form.submit]
        try:
            filed = await filer(self.repos, self.user, draft, engine.extras(draft, ctx), self.config, receipt)
        except Refused as refused:  # e.g. the warning an adjustment was about was lifted meanwhile: the draft ends
            await self.drafts.clear()
            text = self.translate(refused.msgid, **{k: escape(str(v)) for k, v in refused.params.items()})
            return Turn(say=text, close_keyboard=bool(draft.get("reply_kb")))
        await self.drafts.clear()
        return Turn(filed=filed, summary=summary_lines(engine, draft, ctx), close_keyboard=bool(draft.get("reply_kb")))


def _started(draft: Mapping[str, Any]) -> datetime:
    started = draft.get("started_at")
    return datetime.fromisoformat(started) if isinstance(started, str) else datetime.fromtimestamp(0).astimezone()


def _local(draft: Mapping[str, Any], config: Config) -> str:
    return format_local(_started(draft), config.tz)
