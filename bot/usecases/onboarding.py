"""Units, users, invites and duty-group bindings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.access import Action
from bot.domain.clock import utcnow
from bot.domain.locales import SUPPORTED_LOCALES
from bot.domain.roles import Role
from bot.domain.text import N_
from bot.usecases.common import AdminError, Refused, Say, may, require_unit, unit_admins
from storage.models import DutyGroup, Invite, Unit, User
from storage.repositories import Repos


def user_snapshot(user: User) -> dict[str, object]:
    return {
        "telegram_id": user.telegram_id,
        "name": user.name,
        "phone": user.phone,
        "unit_id": user.unit_id,
        "roles": sorted(user.roles),
        "active": user.active,
    }


async def add_unit(repos: Repos, actor: str, code: str, name: str, parent_code: str | None) -> Unit:
    """Create a unit, optionally under a parent unit."""
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise AdminError("unit code and name must not be empty")
    if await repos.units.by_code(code):
        raise AdminError(f"unit {code!r} already exists")
    parent_id = (await require_unit(repos, parent_code, "parent unit")).id if parent_code else None
    unit = await repos.units.add(code, name, parent_id)
    await repos.audit.record(
        actor, "unit.add", "unit", unit.id, after={"code": code, "name": name, "parent": parent_code}
    )
    return unit


def _roles(raw: list[str]) -> set[str]:
    roles: set[str] = set()
    for item in raw:
        for part in item.split(","):
            if not part.strip():
                continue
            try:
                roles.add(Role(part.strip().lower()).value)
            except ValueError:
                raise AdminError(f"unknown role {part.strip()!r} (roles: {', '.join(r.value for r in Role)})") from None
    if not roles:
        raise AdminError("at least one role is needed")
    return roles


async def add_user(
    repos: Repos,
    actor: str,
    telegram_id: int,
    name: str,
    unit_code: str,
    roles: list[str],
    phone: str | None,
) -> User:
    """Register a user directly (without an invite)."""
    if telegram_id <= 0:
        raise AdminError("a Telegram user id is a positive number")
    unit = await require_unit(repos, unit_code)
    role_set = _roles(roles)
    if await repos.users.by_telegram_id(telegram_id):
        raise AdminError(f"user {telegram_id} already exists")
    user = await repos.users.add(telegram_id, name.strip(), unit.id, role_set, phone)
    await repos.audit.record(actor, "user.add", "user", user.id, after=user_snapshot(user))
    return user


async def set_roles(repos: Repos, actor: str, telegram_id: int, roles: list[str]) -> User:
    user = await repos.users.by_telegram_id(telegram_id)
    if user is None:
        raise AdminError(f"unknown user {telegram_id}")
    role_set = _roles(roles)
    before = user_snapshot(user)
    await repos.users.set_roles(user, role_set)
    await repos.audit.record(actor, "user.set_roles", "user", user.id, before=before, after=user_snapshot(user))
    return user


async def create_invite(repos: Repos, actor: str, unit_code: str, role: str, ttl: timedelta) -> Invite:
    unit = await require_unit(repos, unit_code)
    roles = _roles([role])
    if len(roles) != 1:
        raise AdminError("an invite carries exactly one role")
    role_value = roles.pop()
    code = secrets.token_urlsafe(12)
    invite = await repos.invites.add(code, unit.id, role_value, utcnow() + ttl)
    await repos.audit.record(actor, "invite.create", "invite", code, after={"unit": unit_code, "role": role_value})
    return invite


async def set_active(repos: Repos, actor: str, telegram_id: int, active: bool, by: User | None = None) -> User:
    """Deactivate or reactivate a person: from the next update on (the people cache's bound), a deactivated person's
    buttons, commands and open drafts stop as a stranger's do; nothing of theirs is deleted. `by`: an administrator
    in chat, who may do it for the people of their unit and below only (the operator's CLI passes none)."""
    user = await repos.users.by_telegram_id(telegram_id)
    if by is not None and (user is None or not await may(repos, by, Action.PERSON_MANAGE, unit_id=user.unit_id)):
        raise Refused(N_("people.unknown"), who=telegram_id)  # (the same answer for someone else's: no leak)
    if user is None:
        raise AdminError(f"unknown user {telegram_id}")
    if by is not None and user.id == by.id:
        raise Refused(N_("people.not_self"))
    if user.active == active:
        if by is not None:
            raise Refused(N_("people.already_active") if active else N_("people.already_inactive"), name=user.name)
        raise AdminError(f"user {telegram_id} is {'active' if active else 'deactivated'} already")
    before = user_snapshot(user)
    user.active = active
    await repos.audit.record(
        actor,
        "user.reactivate" if active else "user.deactivate",
        "user",
        user.id,
        before=before,
        after=user_snapshot(user),
    )
    return user


async def revoke_invite(
    repos: Repos, actor: str, code: str, by: User | None = None, now: datetime | None = None
) -> Invite:
    """Revoke an unused invite at once (it answers as expired from then on); audited."""
    now = now or utcnow()
    invite = await repos.invites.get_for_update(code.strip())
    if by is not None and (invite is None or not await may(repos, by, Action.INVITE_REVOKE, unit_id=invite.unit_id)):
        raise Refused(N_("invite.unknown_code"))
    if invite is None:
        raise AdminError(f"unknown invite {code!r}")
    if invite.used_at is not None or invite.expires_at <= now:
        if by is not None:
            raise Refused(N_("invite.not_open"))
        raise AdminError("the invite was used or has expired already")
    invite.expires_at = now
    await repos.audit.record(
        actor, "invite.revoke", "invite", invite.code, after={"unit_id": invite.unit_id, "role": invite.role}
    )
    return invite


async def people_of(repos: Repos, by: User) -> list[tuple[User, str]]:
    """The people an administrator manages (their unit and below), with their unit's name, active first."""
    names = {u.id: u.name for u in await repos.units.all()}
    out = [
        (u, names.get(u.unit_id, ""))
        for u in await repos.users.list()
        if await may(repos, by, Action.PERSON_MANAGE, unit_id=u.unit_id)
    ]
    return sorted(out, key=lambda p: (not p[0].active, p[0].unit_id != by.unit_id, p[0].unit_id, p[0].id))


class InviteOutcome(StrEnum):
    REGISTERED = "registered"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    ALREADY_REGISTERED = "already_registered"


@dataclass
class InviteResult:
    outcome: InviteOutcome
    user: User | None = None
    unit: Unit | None = None


async def redeem_invite(
    repos: Repos, code: str, telegram_id: int, name: str, now: datetime | None = None
) -> InviteResult:
    """Register a Telegram user with the invite's unit and role; one use, before it expires."""
    now = now or utcnow()
    existing = await repos.users.by_telegram_id(telegram_id)
    if existing is not None:
        return InviteResult(InviteOutcome.ALREADY_REGISTERED, existing, await repos.units.get(existing.unit_id))
    invite = await repos.invites.get_for_update(code)
    if invite is None:
        return InviteResult(InviteOutcome.UNKNOWN)
    if invite.used_at is not None:
        return InviteResult(InviteOutcome.USED)
    if invite.expires_at <= now:
        return InviteResult(InviteOutcome.EXPIRED)
    user = await repos.users.add(telegram_id, name[:200] or str(telegram_id), invite.unit_id, {invite.role})
    invite.used_by, invite.used_at = user.id, now
    await repos.audit.record(
        f"tg:{telegram_id}", "invite.redeem", "user", user.id, after=user_snapshot(user) | {"invite": code}
    )
    return InviteResult(InviteOutcome.REGISTERED, user, await repos.units.get(invite.unit_id))


async def bind_group(
    repos: Repos, actor: str, chat_id: int, unit: Unit, title: str | None, bound_by: int | None
) -> DutyGroup:
    """Make a group chat the duty group of a unit (replacing the unit's earlier one)."""
    before = await repos.groups.for_unit(unit.id)
    group = await repos.groups.bind(chat_id, unit.id, title, bound_by)
    await repos.audit.record(
        actor,
        "group.bind",
        "duty_group",
        chat_id,
        before={"chat_id": before.chat_id} if before else None,
        after={"chat_id": chat_id, "unit": unit.code, "title": title},
    )
    return group


async def bind_group_by_code(repos: Repos, actor: str, chat_id: int, unit_code: str, title: str | None) -> DutyGroup:
    """The operator's binding (CLI): a negative group chat id and a unit code."""
    if chat_id >= 0:
        raise AdminError("a group chat id is negative (e.g. -1001234567890)")
    return await bind_group(repos, actor, chat_id, await require_unit(repos, unit_code), title, None)


@dataclass
class Binding:
    outcome: str  # bound | refused | unknown_unit | not_chat_admin | taken
    unit: Unit | None = None  # bound: the group's unit now; taken: the unit the group serves
    told: list[Say] = field(default_factory=list)  # the administrators of the unit that lost the group


async def bind_group_here(
    repos: Repos, user: User | None, chat_id: int, title: str | None, unit_code: str | None, chat_admin: bool
) -> Binding:
    """/bindgroup in a group: an administrator of the unit (or above) who is also an administrator of the Telegram
    group binds it to their unit or a unit below theirs. A group that already serves another unit is taken from it
    only by an administrator of that unit (or above), and that unit's administrators are told."""
    if user is None or Role.ADMIN not in user.roles:
        return Binding("refused")
    unit = await repos.units.get(user.unit_id)
    if unit_code:
        unit = await repos.units.by_code(unit_code)
    if unit is None or not await may(repos, user, Action.GROUP_BIND, unit_id=unit.id):
        return Binding("unknown_unit")  # (the same answer for a unit that exists elsewhere: no leak)
    if not chat_admin:
        return Binding("not_chat_admin")
    current = await repos.groups.by_chat(chat_id)
    if current is not None and current.unit_id != unit.id:
        serving = await repos.units.get(current.unit_id)
        if not await may(repos, user, Action.GROUP_BIND, unit_id=current.unit_id):
            return Binding("taken", serving)
    else:
        serving = None
    await bind_group(repos, f"tg:{user.telegram_id}", chat_id, unit, title, user.id)
    told = []
    if serving is not None:
        for admin in await repos.users.with_role(serving.id, Role.ADMIN):
            if admin.id != user.id:
                told.append(
                    Say(
                        admin.telegram_id,
                        N_("group.unbound_notice"),
                        {"group": title or str(chat_id), "unit": serving.name, "to": unit.name, "by": user.name},
                        admin.locale,
                    )
                )
    return Binding("bound", unit, told)


async def group_migrated(repos: Repos, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its duty binding moves to the new id."""
    await repos.groups.migrate_chat(old_chat_id, new_chat_id)
    await repos.audit.record("system", "group.migrate", "duty_group", new_chat_id, before={"chat_id": old_chat_id})


async def set_locale(repos: Repos, user: User, locale: str) -> bool:
    """Store the user's language; False for a language we do not have."""
    if locale not in SUPPORTED_LOCALES:
        return False
    user = await repos.users.get(user.id) or user  # the sender may be a shared, read-only copy (storage.people)
    before, user.locale = user.locale, locale
    await repos.audit.record(
        f"tg:{user.telegram_id}",
        "user.set_locale",
        "user",
        user.id,
        before={"locale": before},
        after={"locale": locale},
    )
    return True


@dataclass(frozen=True)
class UserRow:
    telegram_id: int
    name: str
    unit_code: str
    roles: tuple[str, ...]
    phone: str | None
    active: bool


async def list_users(repos: Repos, unit_code: str | None) -> list[UserRow]:
    """Users of one unit, or all."""
    unit_id = (await require_unit(repos, unit_code)).id if unit_code else None
    codes = {u.id: u.code for u in await repos.units.all()}
    return [
        UserRow(u.telegram_id, u.name, codes[u.unit_id], tuple(sorted(u.roles)), u.phone, u.active)
        for u in await repos.users.list(unit_id)
    ]


async def people_below(repos: Repos, unit_id: int, limit: int = 30) -> list[tuple[int, str, str]]:
    """Active people of a unit and the units below it, as (user id, name, unit name), their own unit first."""
    people = []
    for user in await repos.users.list():
        if user.active and await repos.units.is_descendant(user.unit_id, unit_id):
            unit = await repos.units.get(user.unit_id)
            people.append((user.unit_id != unit_id, user.id, user.name, unit.name if unit else "-"))
    return [(uid, name, unit) for _, uid, name, unit in sorted(people)][:limit]


async def set_aside_notices(repos: Repos, telegram_id: int | None, chat_id: int | None, update_id: int) -> list[Say]:
    """An update set aside (it stopped the bot again and again): the person hears that it was not handled, and their
    unit's administrators (else its parent's) hear whose it was and how to look at it."""
    out: list[Say] = []
    user = await repos.users.by_telegram_id(telegram_id) if telegram_id is not None else None
    if chat_id is not None:
        out.append(Say(chat_id, N_("inbox.set_aside"), {}, user.locale if user else None))
    unit = await repos.units.get(user.unit_id) if user is not None else None
    for admin in await unit_admins(repos, unit) if unit is not None else []:
        if admin.telegram_id != telegram_id:
            who = user.name if user else str(telegram_id)
            out.append(
                Say(admin.telegram_id, N_("inbox.set_aside_admin"), {"who": who, "update": update_id}, admin.locale)
            )
    return out


@dataclass(frozen=True)
class GroupRow:
    chat_id: int
    title: str | None
    unit_code: str
    unit_name: str


async def list_groups(repos: Repos) -> list[GroupRow]:
    """Every bound duty group with its unit (the operator's view: the sandbox's panes)."""
    units = {u.id: u for u in await repos.units.all()}
    return [
        GroupRow(g.chat_id, g.title, units[g.unit_id].code, units[g.unit_id].name)
        for g in await repos.groups.all()
        if g.unit_id in units
    ]
