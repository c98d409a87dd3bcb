"""The use cases of one update, bound to its transaction, its sender and the deployment's config:
what the adapter injects into every handler (one object instead of a dozen arguments)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.domain.access import Action
from bot.domain.cap import CapMessage
from bot.domain.stats import Period, Stats
from bot.domain.text import N_
from bot.usecases import alerts, desk, dispatch, followups, onboarding, roster, stats, warnings
from bot.usecases.common import Config, Member, Refused, may
from bot.usecases.conversation import DraftStore, FormSession
from bot.usecases.reports import Acknowledged, acknowledge, filed_number, start_written
from storage.repositories import Repos


class UseCases:
    def __init__(self, repos: Repos, user: Member | None, config: Config, group_chat_id: int | None = None) -> None:
        self.repos, self.user, self.config = repos, user, config
        self.group_chat_id = group_chat_id  # the update came from a group chat (None: a private chat)

    def _person(self) -> Member:
        """The registered, active person this update is from: the handlers ask only for them, but a use case never
        relies on that (an update of a person deactivated meanwhile is refused here, not by an assertion)."""
        if self.user is None:
            raise Refused(N_("access.unregistered"))
        return self.user

    async def _group_unit(self, action: Action = Action.INCIDENT_VIEW) -> int | None:
        """In a group: the unit whose data may be shown there (its duty group's), when this person may see it;
        refused otherwise. None in a private chat (the person's own scope applies)."""
        if self.group_chat_id is None:
            return None
        group = await self.repos.groups.by_chat(self.group_chat_id)
        if group is None:
            raise Refused(N_("common.group_not_duty"))
        if not await may(self.repos, self.user, action, unit_id=group.unit_id):
            unit = await self.repos.units.get(group.unit_id)
            raise Refused(N_("common.group_not_yours"), unit=unit.name if unit else "")
        return group.unit_id

    def forms(self, drafts: DraftStore, translate: Callable[..., str]) -> FormSession:
        user = self._person()
        return FormSession(self.repos, user, self.config, drafts, translate)

    async def open_incidents(self) -> list[followups.OpenIncident]:
        return await followups.open_incidents(self.repos, self.user) if self.user is not None else []

    async def start_followup(self, incident_id: int, kind: str = "followup") -> followups.FollowupStart:
        user = self._person()
        return await followups.start_followup(self.repos, user, incident_id, kind)

    async def start_written(self, incident_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        user = self._person()
        return await start_written(self.repos, user, incident_id)

    async def mark_handled(self, alert_id: int) -> followups.Handled:
        return await followups.mark_handled(self.repos, alert_id, self.user, self.config)

    async def reopen(self, number: str, reason: str) -> followups.Reopened:
        user = self._person()
        return await followups.reopen(self.repos, user, number, reason, self.config)

    async def filed_from(self, token: str) -> str | None:
        return await filed_number(self.repos, self.user, token) if self.user is not None else None

    async def record_receipt(self, report_id: int, chat_id: int, message_id: int | None, locale: str) -> None:
        await alerts.record_receipt(self.repos, report_id, chat_id, message_id, locale)

    async def acknowledge(self, alert_id: int) -> Acknowledged:
        return await acknowledge(self.repos, alert_id, self.user, self.config)

    async def bind_group_here(
        self, chat_id: int, title: str | None, unit_code: str | None, chat_admin: bool
    ) -> onboarding.Binding:
        return await onboarding.bind_group_here(self.repos, self.user, chat_id, title, unit_code, chat_admin)

    async def group_migrated(self, old_chat_id: int, new_chat_id: int) -> None:
        await onboarding.group_migrated(self.repos, old_chat_id, new_chat_id)

    async def set_locale(self, locale: str) -> bool:
        return self.user is not None and await onboarding.set_locale(self.repos, self.user, locale)

    async def redeem_invite(self, code: str, telegram_id: int, name: str) -> onboarding.InviteResult:
        return await onboarding.redeem_invite(self.repos, code, telegram_id, name, self.config.clock())

    # ---- people --------------------------------------------------------------------------------
    async def set_active(self, telegram_id: int, active: bool) -> Member:
        user = self._person()
        return await onboarding.set_active(self.repos, f"tg:{user.telegram_id}", telegram_id, active, user)

    async def revoke_invite(self, code: str) -> None:
        user = self._person()
        await onboarding.revoke_invite(self.repos, f"tg:{user.telegram_id}", code, user, self.config.clock())

    async def people(self) -> list[tuple[Member, str]]:
        user = self._person()
        return await onboarding.people_of(self.repos, user)

    # ---- early warnings ------------------------------------------------------------------------
    async def warning_base(self) -> dict[str, Any]:
        user = self._person()
        return await warnings.form_base(self.repos, user)

    async def decide_warning(self, warning_id: int, approve: bool, reason: str = "") -> warnings.Decision:
        return await warnings.decide(self.repos, self.user, warning_id, approve, reason, self.config)

    async def warning_id(self, ref: str) -> int | None:
        found = await warnings.find(self.repos, ref)
        return found.id if found is not None else None

    async def start_adjust(self, warning_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        return await warnings.start_adjust(self.repos, self.user, warning_id)

    async def lift_warning(self, warning_id: int) -> warnings.Lifted:
        return await warnings.lift(self.repos, self.user, warning_id, self.config)

    async def check_warning(self, action: Action, warning_id: int) -> None:
        """Refused unless this person may take this action on this warning (checked before a button shows anything)."""
        refused = await warnings.refusal(self.repos, self.user, action, warning_id)
        if refused is not None:
            raise Refused(refused)

    async def warning_rows(self) -> list[warnings.WarningRow]:
        return await warnings.warning_rows(self.repos, self.config.clock(), self.user)

    async def warning_status(self, ref: str) -> warnings.WarningStatus | None:
        return await warnings.status(self.repos, self.user, ref)

    async def warning_received(self, delivery_id: int, chat_id: int) -> str:
        return await warnings.receive(self.repos, self.user, delivery_id, chat_id, self.config)

    async def warning_bulletin(self, warning_id: int) -> warnings.Bulletin | None:
        return await warnings.bulletin_of(self.repos, warning_id)

    async def cap_export(self, ref: str, sender: str) -> CapMessage | None:
        return await warnings.cap_message(self.repos, ref, sender, self.config, self._person())

    async def cap_form(self, data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        user = self._person()
        return await warnings.cap_form(self.repos, user, data, self.config)

    # ---- the duty desk -------------------------------------------------------------------------
    async def desk_page(self, kind: str, page: int) -> desk.Page:
        user = self._person()
        page = max(0, min(page, desk.MAX_PAGE))  # a button's number, never trusted to fit a query's OFFSET
        if kind == "mine":
            return await desk.mine(self.repos, user, self.config.clock(), page)
        query = {"status": desk.status, "overdue": desk.overdue}[kind]
        return await query(self.repos, user, self.config.clock(), page, await self._group_unit())

    async def incident_timeline(self, number: str) -> desk.Timeline:
        user = self._person()
        return await desk.timeline(self.repos, user, number, await self._group_unit())

    async def duty_board(self) -> list[roster.UnitDuty]:
        user = self._person()
        return await roster.duty_board(self.repos, user, self.config.clock(), await self._group_unit(Action.DUTY_VIEW))

    async def import_roster(self, data: bytes, filename: str) -> roster.Imported:
        user = self._person()
        return await roster.import_roster(self.repos, f"tg:{user.telegram_id}", data, filename, self.config, user)

    async def _require(self, action: Action) -> None:
        """The person may take this action for their own unit (and below), by the authorization table."""
        user = self._person()
        if not await may(self.repos, user, action, unit_id=user.unit_id):
            raise Refused(N_("common.not_permitted"))

    async def ledger(self, arg: str) -> desk.Ledger | None:
        user = self._person()
        await self._require(Action.INCIDENT_VIEW)
        day = desk.ledger_day(arg, self.config.clock(), self.config.tz)
        return await desk.ledger(self.repos, user, day) if day is not None else None

    async def compose_handover(self, note: str) -> roster.HandoverMade:
        user = self._person()
        await self._require(Action.HANDOVER_COMPOSE)
        return await roster.compose_handover(self.repos, user, note, self.config)

    async def accept_handover(self, handover_id: int) -> tuple[str, Any]:
        return await roster.accept_handover(self.repos, self.user, handover_id, self.config)

    # ---- statistics and exports ----------------------------------------------------------------
    async def stats(self, period: Period) -> Stats:
        user = self._person()
        await self._require(Action.STATS)
        return await stats.stats(self.repos, user, period, self.config.clock())

    async def record_export(self, period: Period, fmt: str, via: str) -> None:
        """Data leaving the system is audited: who, which period, which format, how (refused unless the table allows
        this person exports of their unit and below, the scope the export is made for)."""
        user = self._person()
        await self._require(Action.EXPORT)
        await stats.record_export(self.repos, f"tg:{user.telegram_id}", user.unit_id, period, fmt, via)

    # ---- 联动 dispatch ----------------------------------------------------------------------------------------
    async def dispatch_start(self, number: str) -> tuple[dict[str, Any], list[dispatch.Candidate]]:
        return await dispatch.dispatch_start(self.repos, self._person(), number)

    async def dispatch_answer(self, part_id: int, step: str, **kw: Any) -> dispatch.Answered:
        """A unit's button: the move, its card as it is now, and whom to tell."""
        return await dispatch.answer(self.repos, self.user, part_id, step, self.config, **kw)

    async def dispatch_check(self, part_id: int) -> dispatch.OrderCard:
        """The part's card, when this person may answer for its unit (a form about it opens then)."""
        return await dispatch.check_responder(self.repos, self.user, part_id, self.config)

    async def dispatch_orders(self) -> list[dispatch.OpenOrder]:
        return await dispatch.open_orders(self.repos, self.user)

    async def dispatch_close(self, order_id: int) -> str:
        return (await dispatch.close_order(self.repos, self.user, order_id, self.config.clock())).number

    async def dispatch_add_start(
        self, order_id: int
    ) -> tuple[dict[str, Any], dict[str, Any], list[dispatch.Candidate]]:
        return await dispatch.add_start(self.repos, self.user, order_id)

    async def linked_units(self) -> list[dispatch.Candidate]:
        return await dispatch.linked_units_of(self.repos, self.user)

    async def add_linked(self, words: list[str]) -> dispatch.Candidate:
        return await dispatch.add_linked_in_chat(self.repos, self.user, words, self.config.dispatch)

    async def may_dispatch(self, number: str) -> bool:
        """Whether this person may order linked units out to this incident now (the 🚨 button under /incident)."""
        try:
            await dispatch.incident_to_dispatch(self.repos, self.user, number)
        except Refused:
            return False
        return True

    async def dispatch_received(self) -> list[dispatch.OrderCard]:
        return await dispatch.orders_received(self.repos, self.user, self.config.dispatch)

    async def import_linked(self, data: bytes, filename: str) -> dispatch.LinkedImport:
        user = self._person()
        return await dispatch.import_linked_units(
            self.repos, f"tg:{user.telegram_id}", data, filename, self.config, user
        )
