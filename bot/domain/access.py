"""Who may do what, as data: the one authorization table (action × role × scope) every use case consults through
`permits` before it reads or changes anything on someone's behalf. Pure.

Scope is computed from the unit tree (docs/security.md):
- SUBTREE: the target belongs to the actor's own unit or a unit below it (a parent unit manages its children;
  a child never manages its parent; siblings never manage each other);
- OWN_UNIT: the target belongs to the actor's own unit exactly;
- OWN: the target is the actor's own record (their report, their delivery);
- REACHED: the target was addressed to the actor's unit or to a unit above it (a warning the unit received);
- HERE: the action happens in the chat the target lives in (a duty group's 收到).
A stranger (no registered, active person) is never permitted anything here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.roles import DUTY_STAFF, Role


class Scope(StrEnum):
    SUBTREE = "subtree"
    OWN_UNIT = "own_unit"
    OWN = "own"
    REACHED = "reached"
    HERE = "here"


class Action(StrEnum):
    # reports and incidents
    INCIDENT_WRITE = "incident.write"  # a follow-up or final report about an incident
    INCIDENT_VIEW = "incident.view"  # /status, /overdue, /incident, the ledger
    DUTY_VIEW = "duty.view"  # /duty: who is on duty, with their phones
    ALERT_ACK = "alert.ack"
    INCIDENT_HANDLE = "incident.handle"  # mark handled: the final report becomes due
    INCIDENT_REOPEN = "incident.reopen"
    STATS = "stats.view"
    EXPORT = "export.create"
    PHONE_FOR = "report.phone_for"  # log a phone report on behalf of a person
    # the duty desk
    HANDOVER_COMPOSE = "handover.compose"
    HANDOVER_ACCEPT = "handover.accept"
    ROSTER_IMPORT = "roster.import"
    # early warnings
    WARNING_ISSUE = "warning.issue"
    WARNING_ADDRESS = "warning.address"  # name a unit among a warning's recipients
    WARNING_DECIDE = "warning.decide"  # approve or reject
    WARNING_ADJUST = "warning.adjust"
    WARNING_LIFT = "warning.lift"  # also withdraws what waits for approval
    WARNING_VIEW = "warning.view"  # /warnings, /warnstatus, the CAP file
    WARNING_RECEIVE = "warning.receive"  # 收到
    # 联动 dispatch
    DISPATCH_ORDER = "dispatch.order"  # order linked units out to an incident (the incident's unit is the target)
    DISPATCH_ASSIGN = "dispatch.assign"  # name a linked unit in an order (the linked unit's unit is the target)
    DISPATCH_RESPOND = "dispatch.respond"  # 接收, 无法执行, 已出发, 已到达, the scene report and feedback
    DISPATCH_MANAGE = "dispatch.manage"  # close an order, add units to it (the dispatching unit is the target)
    DISPATCH_VIEW = "dispatch.view"  # an order and its board
    LINKED_MANAGE = "linked.manage"  # register a linked unit, change its kind or tier
    # administration
    GROUP_BIND = "group.bind"
    PERSON_MANAGE = "person.manage"  # deactivate, reactivate
    INVITE_REVOKE = "invite.revoke"


@dataclass(frozen=True)
class Grant:
    roles: frozenset[Role] | None  # None: any registered, active person
    scope: Scope


def _g(roles: Iterable[Role] | None, scope: Scope) -> Grant:
    return Grant(None if roles is None else frozenset(roles), scope)


LEADERS = frozenset({Role.DUTY_LEADER, Role.ADMIN})
RESPONDERS = DUTY_STAFF | {Role.LIAISON}  # a linked unit's people who answer its orders
PUBLISHERS = frozenset({Role.PUBLISHER})
WATCHERS = DUTY_STAFF | PUBLISHERS
ADMINS = frozenset({Role.ADMIN})

# action -> the grants that permit it (any one suffices); aligned as a table
POLICY: dict[Action, tuple[Grant, ...]] = {
    Action.INCIDENT_WRITE:   (_g(None, Scope.OWN), _g(DUTY_STAFF | {Role.REPORTER}, Scope.SUBTREE)),
    Action.INCIDENT_VIEW:    (_g(None, Scope.OWN), _g(WATCHERS, Scope.SUBTREE)),
    Action.DUTY_VIEW:        (_g(None, Scope.SUBTREE),),
    Action.ALERT_ACK:        (_g(DUTY_STAFF, Scope.SUBTREE),),
    Action.INCIDENT_HANDLE:  (_g(DUTY_STAFF, Scope.SUBTREE),),
    Action.INCIDENT_REOPEN:  (_g(LEADERS, Scope.SUBTREE),),
    Action.STATS:            (_g(WATCHERS, Scope.SUBTREE),),
    Action.EXPORT:           (_g(LEADERS, Scope.SUBTREE),),
    Action.PHONE_FOR:        (_g(DUTY_STAFF, Scope.SUBTREE),),
    Action.HANDOVER_COMPOSE: (_g(DUTY_STAFF, Scope.OWN_UNIT),),
    Action.HANDOVER_ACCEPT:  (_g(DUTY_STAFF, Scope.SUBTREE),),
    Action.ROSTER_IMPORT:    (_g(ADMINS, Scope.SUBTREE),),
    Action.WARNING_ISSUE:    (_g(PUBLISHERS, Scope.OWN_UNIT),),
    Action.WARNING_ADDRESS:  (_g(PUBLISHERS, Scope.SUBTREE),),
    Action.WARNING_DECIDE:   (_g(PUBLISHERS, Scope.SUBTREE),),
    Action.WARNING_ADJUST:   (_g(PUBLISHERS, Scope.SUBTREE),),
    Action.WARNING_LIFT:     (_g(PUBLISHERS, Scope.SUBTREE),),
    Action.WARNING_VIEW:     (_g(WATCHERS, Scope.SUBTREE), _g(WATCHERS, Scope.REACHED)),
    Action.WARNING_RECEIVE:  (_g(None, Scope.OWN), _g(None, Scope.HERE)),
    Action.DISPATCH_ORDER:   (_g(DUTY_STAFF, Scope.SUBTREE),),
    Action.DISPATCH_ASSIGN:  (_g(DUTY_STAFF, Scope.SUBTREE),),
    Action.DISPATCH_RESPOND: (_g(RESPONDERS, Scope.OWN_UNIT),),
    Action.DISPATCH_MANAGE:  (_g(DUTY_STAFF, Scope.SUBTREE),),
    Action.DISPATCH_VIEW:    (_g(WATCHERS, Scope.SUBTREE), _g(RESPONDERS, Scope.REACHED)),
    Action.LINKED_MANAGE:    (_g(ADMINS, Scope.SUBTREE),),
    Action.GROUP_BIND:       (_g(ADMINS, Scope.SUBTREE),),
    Action.PERSON_MANAGE:    (_g(ADMINS, Scope.SUBTREE),),
    Action.INVITE_REVOKE:    (_g(ADMINS, Scope.SUBTREE),),
}  # fmt: skip


@dataclass(frozen=True)
class Actor:
    """Who acts: a registered, active person (the adapter passes None for anyone else)."""

    person_id: int
    unit_id: int
    roles: frozenset[str]
    chat_id: int | None = None  # where they act (a private chat's id is theirs)


@dataclass(frozen=True)
class Target:
    """What is acted on, as far as the table needs it.

    `chain`: the target's unit and every unit above it, nearest first (empty: the target belongs to no unit);
    `reached`: units the target was addressed to, each with the units below it that it reached;
    `owner_id`: the person whose record it is; `chat_id`: the chat it lives in."""

    chain: tuple[int, ...] = ()
    owner_id: int | None = None
    reached: frozenset[int] = field(default_factory=frozenset)
    chat_id: int | None = None


def _in_scope(scope: Scope, actor: Actor, target: Target) -> bool:
    if scope is Scope.SUBTREE:
        return actor.unit_id in target.chain
    if scope is Scope.OWN_UNIT:
        return bool(target.chain) and target.chain[0] == actor.unit_id
    if scope is Scope.OWN:
        return target.owner_id is not None and target.owner_id == actor.person_id
    if scope is Scope.REACHED:
        return actor.unit_id in target.reached
    if scope is Scope.HERE:
        return target.chat_id is not None and target.chat_id == actor.chat_id
    raise AssertionError(scope)  # every scope is handled above


def permits(action: Action, actor: Actor | None, target: Target) -> bool:
    """True when one of the action's grants covers this actor (their roles) and this target (its scope)."""
    if actor is None:
        return False
    for grant in POLICY[action]:
        if (grant.roles is None or grant.roles & actor.roles) and _in_scope(grant.scope, actor, target):
            return True
    return False


def roles_for(action: Action) -> frozenset[Role] | None:
    """Every role that some grant of the action names (None: any registered person): what a menu may offer."""
    roles: set[Role] = set()
    for grant in POLICY[action]:
        if grant.roles is None:
            return None
        roles |= grant.roles
    return frozenset(roles)
