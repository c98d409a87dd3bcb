"""Roles and which commands each role may use (data, not branches)."""

from __future__ import annotations

from enum import StrEnum

from bot.domain.text import N_


class Role(StrEnum):
    REPORTER = "reporter"
    DUTY_OFFICER = "duty_officer"
    DUTY_LEADER = "duty_leader"
    PUBLISHER = "publisher"
    ADMIN = "admin"
    LIAISON = "liaison"  # 联络员 of a linked unit: answers the dispatch orders to it


DUTY_STAFF = frozenset({Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN})

# command -> roles allowed (None: every registered user). Order is the order /help shows.
COMMANDS: dict[str, frozenset[Role] | None] = {
    "help": None,
    "lang": None,
    "report": frozenset({Role.REPORTER, Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN}),
    "flash": frozenset({Role.REPORTER, Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN}),
    "phone": frozenset({Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN}),
    "followup": frozenset({Role.REPORTER, Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN}),
    "final": frozenset({Role.REPORTER, Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN}),
    "reopen": frozenset({Role.DUTY_LEADER, Role.ADMIN}),
    "dispatch": frozenset({Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN}),
    "dispatches": frozenset({Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN, Role.LIAISON}),
    "duty": None,
    "handover": frozenset({Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN}),
    "status": None,
    "incident": None,
    "overdue": frozenset({Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN, Role.PUBLISHER}),
    "mine": None,
    "ledger": frozenset({Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN}),
    "stats": frozenset({Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN, Role.PUBLISHER}),
    "export": frozenset({Role.DUTY_LEADER, Role.ADMIN}),
    "warn": frozenset({Role.PUBLISHER}),
    "warnings": frozenset({Role.PUBLISHER, Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN}),
    "warnstatus": frozenset({Role.PUBLISHER, Role.DUTY_OFFICER, Role.DUTY_LEADER, Role.ADMIN}),
    "reject": frozenset({Role.PUBLISHER}),
    "cancel": None,
    "bindgroup": frozenset({Role.ADMIN}),
    "linked": frozenset({Role.ADMIN}),
    "people": frozenset({Role.ADMIN}),
    "deactivate": frozenset({Role.ADMIN}),
    "reactivate": frozenset({Role.ADMIN}),
    "revoke": frozenset({Role.ADMIN}),
}


# Commands answered in a group chat too, and there only about the group's own unit (and the units below it). Every
# other command answers with a person's or a unit's data and is for the private chat with the bot (docs/security.md).
IN_GROUPS = frozenset({"help", "status", "overdue", "incident", "duty", "bindgroup"})


# command -> catalog id of its one-line description
COMMAND_HELP: dict[str, str] = {
    "help": N_("cmd.help"),
    "lang": N_("cmd.lang"),
    "report": N_("cmd.report"),
    "flash": N_("cmd.flash"),
    "phone": N_("cmd.phone"),
    "followup": N_("cmd.followup"),
    "final": N_("cmd.final"),
    "reopen": N_("cmd.reopen"),
    "dispatch": N_("cmd.dispatch"),
    "dispatches": N_("cmd.dispatches"),
    "duty": N_("cmd.duty"),
    "handover": N_("cmd.handover"),
    "status": N_("cmd.status"),
    "incident": N_("cmd.incident"),
    "overdue": N_("cmd.overdue"),
    "mine": N_("cmd.mine"),
    "ledger": N_("cmd.ledger"),
    "stats": N_("cmd.stats"),
    "export": N_("cmd.export"),
    "warn": N_("cmd.warn"),
    "warnings": N_("cmd.warnings"),
    "warnstatus": N_("cmd.warnstatus"),
    "reject": N_("cmd.reject"),
    "cancel": N_("cmd.cancel"),
    "bindgroup": N_("cmd.bindgroup"),
    "linked": N_("cmd.linked"),
    "people": N_("cmd.people"),
    "deactivate": N_("cmd.deactivate"),
    "reactivate": N_("cmd.reactivate"),
    "revoke": N_("cmd.revoke"),
}

ROLE_NAMES: dict[Role, str] = {
    Role.REPORTER: N_("role.reporter"),
    Role.DUTY_OFFICER: N_("role.duty_officer"),
    Role.DUTY_LEADER: N_("role.duty_leader"),
    Role.PUBLISHER: N_("role.publisher"),
    Role.ADMIN: N_("role.admin"),
    Role.LIAISON: N_("role.liaison"),
}


def allowed_commands(roles: frozenset[Role] | set[Role]) -> list[str]:
    """Commands a user with these roles may use, in display order."""
    return [cmd for cmd, need in COMMANDS.items() if need is None or need & set(roles)]


def may_use(command: str, roles: frozenset[Role] | set[Role] | frozenset[str], private: bool = True) -> bool:
    """The roles allow the command, and it may be answered where it was sent (`private`: in the private chat)."""
    need = COMMANDS.get(command)
    if command not in COMMANDS or (not private and command not in IN_GROUPS):
        return False
    return need is None or bool(need & set(roles))
