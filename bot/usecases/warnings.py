"""Early warnings (domain rules §5): compose, approve, publish (one delivery row per recipient, in the
publishing transaction), receipts and their reminders, adjust and lift, CAP in and out. The sender that
delivers the rows lives in the Telegram adapter (bot/telegram/broadcast.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain import cap
from bot.domain.access import Action
from bot.domain.roles import Role
from bot.domain.text import N_
from bot.domain.units import units_with_descendants
from bot.domain.warnings import RANK, reach_seconds
from bot.usecases.common import Config, Member, Refused, duty_leaders, may, unit_admins
from conversations.warning import fields_of, targets_of
from storage.models import Warning, WarningDelivery
from storage.repositories import Repos

UNITS_OFFERED = 40  # units a publisher may tick in the form (their own and those below, nearest first)
ACTIVE_SINCE = timedelta(days=30)  # /warnings looks this far back


@dataclass
class WarningFiled:
    """What submitting a warning did: stored and waiting for approval, or published."""

    created: bool
    warning_id: int
    number: str
    state: str  # pending | published
    recipients: int = 0
    seconds: float = 0.0
    approvers: list[Member] = field(default_factory=list)  # who is asked to approve (pending)
    reach: dict[str, Any] = field(default_factory=dict)  # recipients and time, for the approvers' preview
    author: str = ""
    kind: str = "warning"


@dataclass
class Decision:
    """An approval or a rejection: the outcome code (catalog id), the warning, whom to tell."""

    code: str
    warning: Warning | None = None
    author: Member | None = None
    approver: Member | None = None
    recipients: int = 0


@dataclass(frozen=True)
class WarningRow:
    """A warning as /warnings lists it: its latest published message (or the one waiting)."""

    root_id: int
    latest_id: int
    number: str
    level: str
    fields: Mapping[str, Any]
    state: str  # active | expired | lifted | pending
    expires_at: datetime
    unit_id: int | None = None  # the issuing unit
    reached: frozenset[int] = frozenset()  # the units it was addressed to


@dataclass(frozen=True)
class WarningStatus:
    warning_id: int
    number: str
    msg_type: str
    state: str
    fields: Mapping[str, Any]
    counts: Mapping[str, int]
    unconfirmed_units: list[tuple[str, int]]
    published_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class Bulletin:
    """What the sender needs to draw one warning message in any language."""

    warning_id: int
    number: str
    msg_type: str
    fields: Mapping[str, Any]
    published_at: datetime | None
    refers: str | None  # the number of the message an adjustment or a lift refers to
    before: Mapping[str, Any] | None  # the fields before an adjustment
    author_chat: int
    author_locale: str | None
    progress: tuple[int, int] | None  # (chat, message) of the publisher's progress message
    recipients: int


@dataclass
class ReceiptNotice:
    """A receipt step as data: a reminder to an unconfirmed recipient (kind remind, with its delivery's button)
    or a notice to a unit's duty leader listing who has not confirmed (kind leader)."""

    chat_id: int
    kind: str
    warning_id: int
    number: str
    fields: Mapping[str, Any]
    locale: str | None = None
    delivery_id: int = 0
    names: list[str] = field(default_factory=list)
    unit: str = ""


def latest_published(chain: Sequence[Warning]) -> Warning | None:
    """A warning's current state: its latest published message (None while nothing was published)."""
    return next((w for w in reversed(chain) if w.state == "published"), None)


def is_publisher(user: Member | None) -> bool:
    return user is not None and Role.PUBLISHER in user.roles


def unit_of(w: Warning) -> int | None:
    """The issuing unit: who may decide, adjust, lift and see the warning follows from it (bot.domain.access)."""
    return w.unit_id


def reached_units(tree: Sequence[tuple[int, int | None]], w: Warning) -> frozenset[int]:
    """The units a warning was addressed to, with the units below them when it went to subunits too."""
    chosen = [int(u) for u in (w.targets or {}).get("units") or []]
    if (w.targets or {}).get("subunits"):
        return frozenset(units_with_descendants(tree, chosen))
    return frozenset(chosen)


async def may_see(
    repos: Repos, user: Member | None, w: Warning, tree: Sequence[tuple[int, int | None]] | None = None
) -> bool:
    """Issued by the person's unit or below, or addressed to their unit."""
    if await may(repos, user, Action.WARNING_VIEW, unit_id=unit_of(w)):
        return True
    reached = reached_units(tree if tree is not None else await repos.units.tree(), w)
    return await may(repos, user, Action.WARNING_VIEW, reached=reached)


async def form_base(repos: Repos, user: Member) -> dict[str, Any]:
    """What the warning form offers: the publisher's unit and the units below it."""
    children: dict[int | None, list[int]] = {}
    for unit_id, parent_id in await repos.units.tree():
        children.setdefault(parent_id, []).append(unit_id)
    depth, frontier = {user.unit_id: 0}, [user.unit_id]
    while frontier:  # breadth first: the nearest units first
        below = [(c, depth[u] + 1) for u in frontier for c in children.get(u, []) if c not in depth]
        depth.update(below)
        frontier = [c for c, _ in below]
    units = [u for u in await repos.units.all() if u.id in depth]
    units.sort(key=lambda u: (depth.get(u.id, 99), u.id))
    return {"units": [(u.id, u.name) for u in units[:UNITS_OFFERED]]}


async def authority_of(repos: Repos, user: Member) -> str:
    unit = await repos.units.get(user.unit_id)
    return unit.name if unit else ""


async def _recipients(repos: Repos, targets: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per chat: the people of the target units (with one of the roles, or all), then their duty groups."""
    chosen = [int(u) for u in targets.get("units") or []]
    units = units_with_descendants(await repos.units.tree(), chosen) if targets.get("subunits") else set(chosen)
    rows: dict[int, dict[str, Any]] = {}
    for telegram_id, user_id, unit_id, locale in await repos.warnings.people_in(
        units, list(targets.get("roles") or [])
    ):
        rows.setdefault(telegram_id, {"chat_id": telegram_id, "user_id": user_id, "unit_id": unit_id, "locale": locale})
    if targets.get("groups"):
        for chat_id, unit_id in await repos.warnings.groups_of(units):
            rows.setdefault(chat_id, {"chat_id": chat_id, "user_id": None, "unit_id": unit_id, "locale": None})
    return list(rows.values())


async def _same_recipients(repos: Repos, root_id: int) -> list[dict[str, Any]]:
    """An adjustment or a lift goes where the warning went (not to chats that blocked the bot)."""
    return await repos.warnings.recipients_of(root_id)


async def reach(
    repos: Repos, user: Member, answers: Mapping[str, Any], subject: Mapping[str, Any] | None, config: Config
) -> dict[str, Any]:
    """How many a draft would reach and how long that takes at the send rate; whether it needs approval."""
    if subject:
        rows = await _same_recipients(repos, int(subject["root"]))
        previous = (subject.get("before") or {}).get("level")
    else:
        rows = await _recipients(repos, targets_of(answers))
        previous = None
    groups = sum(1 for r in rows if r["user_id"] is None)
    queued = await repos.warnings.queued_total()
    level = str(answers.get("level") or "")
    return {
        "people": len(rows) - groups,
        "groups": groups,
        "seconds": reach_seconds(len(rows), config.warnings.send_rate, queued),
        "approval": bool(level) and config.warnings.needs_approval(level, previous),
    }


async def _number(repos: Repos, now: datetime, config: Config) -> str:
    day = now.astimezone(config.tz).strftime("%Y%m%d")
    seq = await repos.counters.next(f"Y{day[2:]}")
    return f"YJ-{day}-{seq:03d}"


async def submit_warning(
    repos: Repos,
    user: Member,
    draft: Mapping[str, Any],
    extras: Mapping[str, Mapping[str, Any]],
    config: Config,
    receipt: object = None,
) -> WarningFiled:
    """Store the warning once (idempotent on the draft token); publish it at once, or ask for approval. (`receipt`:
    a filer's parameter for reports; a warning's author follows it in the progress message instead.)"""
    token = str(draft["token"])
    existing = await repos.warnings.by_token(user.id, token)
    if existing is not None:
        return WarningFiled(False, existing.id, existing.number, existing.state)
    now = config.clock()
    answers = draft["answers"]
    subject = draft.get("subject") or {}
    base = draft.get("base") or {}
    fields = fields_of(answers, {"subject": subject})
    root: Warning | None = None
    latest: Warning | None = None
    if subject:
        root = await repos.warnings.get_for_update(int(subject["root"]))
        chain = await repos.warnings.chain(int(subject["root"]))
        latest = latest_published(chain)
        if root is None or latest is None or latest.msg_type == "cancel":
            raise Refused(N_("warning.already_lifted"))
        if not await may(repos, user, Action.WARNING_ADJUST, unit_id=unit_of(root)):
            raise Refused(N_("warning.not_yours"))
        targets = dict(root.targets)
    else:
        if not await may(repos, user, Action.WARNING_ISSUE, unit_id=user.unit_id):
            raise Refused(N_("warning.not_publisher"))
        targets = targets_of(answers)
        for unit_id in targets.get("units") or []:  # only the publisher's unit and the units below it
            if not await may(repos, user, Action.WARNING_ADDRESS, unit_id=int(unit_id)):
                raise Refused(N_("warning.not_yours"))
    level = str(fields["level"])
    warning = Warning(
        number=await _number(repos, now, config),
        root_id=root.id if root else None,
        refers_id=latest.id if latest else None,
        msg_type="update" if root else "alert",
        state="pending",
        level=level,
        rank=RANK[level],
        drill=bool(fields.get("drill")),
        onset_at=datetime.fromisoformat(str(fields["onset"])),
        expires_at=datetime.fromisoformat(str(fields["expires"])),
        fields=fields,
        targets=targets,
        author_id=user.id,
        unit_id=root.unit_id if root else user.unit_id,
        draft_token=token,
        source="cap" if base.get("cap_ref") else "form",
        cap_ref=base.get("cap_ref"),
        recipients=0,
        created_at=now,
    )
    await repos.warnings.add(warning)
    await repos.audit.record(
        f"tg:{user.telegram_id}",
        "warning.submit",
        "warning",
        warning.id,
        after={
            "number": warning.number,
            "msg_type": warning.msg_type,
            "level": level,
            "refers": latest.number if latest else None,
            "targets": targets,
        },
    )
    if config.warnings.needs_approval(level, latest.level if latest else None):
        approvers = [
            p
            for p in await repos.warnings.publishers(user.id)
            if await may(repos, p, Action.WARNING_DECIDE, unit_id=warning.unit_id)
        ]
        return WarningFiled(
            True,
            warning.id,
            warning.number,
            "pending",
            approvers=approvers,
            author=user.name,
            reach=await reach(repos, user, answers, subject or None, config),
        )
    count = await publish(repos, warning, now, f"tg:{user.telegram_id}")
    return WarningFiled(
        True, warning.id, warning.number, "published", count, reach_seconds(count, config.warnings.send_rate)
    )


async def publish(repos: Repos, warning: Warning, now: datetime, actor: str) -> int:
    """Published: one queued delivery per recipient, in this transaction; the sender is woken after the commit."""
    if warning.root_id is not None:
        rows = await _same_recipients(repos, warning.root_id)
    else:
        rows = await _recipients(repos, warning.targets)
    await repos.warnings.add_deliveries(warning.id, warning.rank, rows)
    warning.state, warning.published_at, warning.recipients = "published", now, len(rows)
    if not rows:
        warning.finished_at = now
    await repos.audit.record(
        actor,
        "warning.publish",
        "warning",
        warning.id,
        after={"number": warning.number, "msg_type": warning.msg_type, "level": warning.level, "recipients": len(rows)},
    )
    repos.session.info["broadcast"] = True
    return len(rows)


async def decide(
    repos: Repos, user: Member | None, warning_id: int, approve: bool, reason: str, config: Config
) -> Decision:
    """A second publisher approves (it is published) or rejects (with a reason); never the author."""
    if user is None or not is_publisher(user):
        return Decision(N_("warning.not_publisher"))
    warning = await repos.warnings.get_for_update(warning_id)
    if warning is None:
        return Decision(N_("common.stale_button"))
    if not await may(repos, user, Action.WARNING_DECIDE, unit_id=unit_of(warning)):
        return Decision(N_("warning.not_yours"))
    author = await repos.users.get(warning.author_id)
    if warning.state != "pending":
        return Decision(N_("warning.already_decided"), warning, author)
    if warning.author_id == user.id:
        return Decision(N_("warning.self_approval"), warning, author)
    reason = reason.strip()
    if not approve and not reason:
        return Decision(N_("warning.reject_reason_needed"), warning, author)
    now = config.clock()
    warning.approver_id, warning.decided_at = user.id, now
    actor = f"tg:{user.telegram_id}"
    if not approve:
        warning.state, warning.reject_reason = "rejected", reason[:500]
        await repos.audit.record(
            actor, "warning.reject", "warning", warning.id, after={"number": warning.number, "reason": reason[:500]}
        )
        return Decision(N_("warning.rejected"), warning, author, user)
    if warning.root_id is not None:  # an adjustment: the warning must still stand
        chain = await repos.warnings.chain(warning.root_id)
        if any(w.msg_type == "cancel" and w.state == "published" for w in chain):
            warning.state = "rejected"
            warning.reject_reason = "lifted meanwhile"
            return Decision(N_("warning.already_lifted"), warning, author, user)
    await repos.audit.record(actor, "warning.approve", "warning", warning.id, after={"number": warning.number})
    count = await publish(repos, warning, now, actor)
    return Decision(N_("warning.approved"), warning, author, user, count)


async def bulletin_of(repos: Repos, warning_id: int) -> Bulletin | None:
    """Everything the sender needs to draw a warning message (read once per message, then cached)."""
    w = await repos.warnings.get(warning_id)
    if w is None:
        return None
    refers = await repos.warnings.get(w.refers_id) if w.refers_id else None
    author = await repos.users.get(w.author_id)
    progress = (
        (int(w.progress_chat_id), int(w.progress_message_id)) if w.progress_message_id and w.progress_chat_id else None
    )
    return Bulletin(
        w.id,
        w.number,
        w.msg_type,
        dict(w.fields),
        w.published_at,
        refers.number if refers else None,
        dict(refers.fields) if refers and w.msg_type == "update" else None,
        author.telegram_id if author else 0,
        author.locale if author else None,
        progress,
        w.recipients,
    )


async def warning_rows(repos: Repos, now: datetime, user: Member | None) -> list[WarningRow]:
    """Warnings of the last 30 days the person may see, newest first: active, expired, lifted or waiting for
    approval (`user` None: every warning, for the office's own summaries)."""
    out = []
    tree = await repos.units.tree()
    for root in await repos.warnings.roots(now - ACTIVE_SINCE):
        if user is not None and not await may_see(repos, user, root, tree):
            continue
        chain = await repos.warnings.chain(root.id)
        whose: dict[str, Any] = {"unit_id": unit_of(root), "reached": reached_units(tree, root)}
        latest = latest_published(chain)
        if latest is None:
            if root.state == "pending":
                out.append(
                    WarningRow(
                        root.id, root.id, root.number, root.level, root.fields, "pending", root.expires_at, **whose
                    )
                )
            continue
        if latest.msg_type == "cancel":
            state = "lifted"
        elif latest.expires_at <= now:
            state = "expired"
        else:
            state = "active"
        out.append(
            WarningRow(
                root.id, latest.id, latest.number, latest.level, latest.fields, state, latest.expires_at, **whose
            )
        )
    order = {"active": 0, "pending": 1, "expired": 2, "lifted": 3}
    out.sort(key=lambda r: (order[r.state], RANK.get(r.level, 9), -r.root_id))
    return out


async def refusal(repos: Repos, user: Member | None, action: Action, warning_id: int) -> str | None:
    """Why the person may not take `action` on the warning (a catalog id: a forged, forwarded or stale button), or
    None: checked before a button shows anything about the warning."""
    w = await repos.warnings.get(warning_id)
    if w is None:
        return N_("common.stale_button")
    if not is_publisher(user) and action is not Action.WARNING_VIEW:
        return N_("warning.not_publisher")
    if action is Action.WARNING_VIEW:
        return None if await may_see(repos, user, await root_of(repos, w)) else N_("warning.not_yours")
    return None if await may(repos, user, action, unit_id=unit_of(w)) else N_("warning.not_yours")


async def root_of(repos: Repos, w: Warning) -> Warning:
    return (await repos.warnings.get(w.root_id) if w.root_id else None) or w


async def find(repos: Repos, ref: str) -> Warning | None:
    """A warning by number (YJ-…) or id."""
    ref = ref.strip()
    if ref.isdigit():
        return await repos.warnings.get(int(ref))
    return await repos.warnings.by_number(ref)


async def status(repos: Repos, user: Member | None, ref: str) -> WarningStatus | None:
    """A warning's delivery figures; None when there is none or it is not this person's to see (no leak)."""
    w = await find(repos, ref)
    if w is None or not await may_see(repos, user, await root_of(repos, w)):
        return None
    counts = await repos.warnings.counts(w.id)
    units = await repos.warnings.unconfirmed_units(w.id)
    return WarningStatus(
        w.id, w.number, w.msg_type, w.state, dict(w.fields), counts, units, w.published_at, w.finished_at
    )


async def start_adjust(repos: Repos, user: Member | None, warning_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form's answers and subject for adjusting a published warning; Refused when it cannot be adjusted."""
    refused = await refusal(repos, user, Action.WARNING_ADJUST, warning_id)
    w = await repos.warnings.get(warning_id)
    if refused is not None or w is None:
        raise Refused(refused or N_("common.stale_button"))
    root_id = w.root_id or w.id
    chain = await repos.warnings.chain(root_id)
    latest = latest_published(chain)
    if latest is None:
        raise Refused(N_("warning.not_published"))
    if latest.msg_type == "cancel":
        raise Refused(N_("warning.already_lifted"))
    if any(x.state == "pending" for x in chain):
        raise Refused(N_("warning.adjust_pending"))
    keep = ("event", "level", "area", "onset", "expires", "text", "measures", "phone")
    initial = {k: latest.fields.get(k) for k in keep if latest.fields.get(k) is not None}
    subject = {"root": root_id, "refers": latest.id, "number": latest.number, "before": dict(latest.fields)}
    return initial, subject


@dataclass
class Lifted:
    code: str
    number: str = ""
    recipients: int = 0
    warning_id: int = 0


async def lift(repos: Repos, user: Member | None, warning_id: int, config: Config) -> Lifted:
    """Lift (cancel) a warning at once: a cancellation to the same recipients. Lifting lowers the risk, so it
    needs no approval; a warning still waiting for approval is withdrawn instead (nothing was sent)."""
    if user is None or not is_publisher(user):
        return Lifted(N_("warning.not_publisher"))
    w = await repos.warnings.get(warning_id)
    if w is None:
        return Lifted(N_("common.stale_button"))
    if not await may(repos, user, Action.WARNING_LIFT, unit_id=unit_of(w)):
        return Lifted(N_("warning.not_yours"))
    root = await repos.warnings.get_for_update(w.root_id or w.id)
    if root is None:
        return Lifted(N_("common.stale_button"))
    chain = await repos.warnings.chain(root.id)
    now = config.clock()
    actor = f"tg:{user.telegram_id}"
    for pending in [x for x in chain if x.state == "pending"]:
        pending.state, pending.reject_reason, pending.decided_at = "rejected", "withdrawn", now
        await repos.audit.record(actor, "warning.withdraw", "warning", pending.id, after={"number": pending.number})
    latest = latest_published(chain)
    if latest is None:
        return Lifted(N_("warning.withdrawn"), root.number)
    if latest.msg_type == "cancel":
        return Lifted(N_("warning.already_lifted"), latest.number)
    cancel = Warning(
        number=await _number(repos, now, config),
        root_id=root.id,
        refers_id=latest.id,
        msg_type="cancel",
        state="pending",
        level=latest.level,
        rank=latest.rank,
        drill=latest.drill,
        onset_at=latest.onset_at,
        expires_at=now,
        fields=dict(latest.fields),
        targets=dict(root.targets),
        author_id=user.id,
        unit_id=root.unit_id,
        draft_token=f"lift-{root.id}",
        source="form",
        recipients=0,
        created_at=now,
    )
    await repos.warnings.add(cancel)
    count = await publish(repos, cancel, now, actor)
    await repos.audit.record(
        actor, "warning.lift", "warning", cancel.id, after={"number": cancel.number, "refers": latest.number}
    )
    return Lifted(N_("warning.lifted"), cancel.number, count, cancel.id)


async def receive(repos: Repos, user: Member | None, delivery_id: int, chat_id: int, config: Config) -> str:
    """收到: the recipient confirms in the chat the warning was delivered to (in a duty group: any registered member
    there); the first tap counts. Returns a catalog id."""
    delivery = await repos.warnings.delivery(delivery_id)
    if delivery is None or delivery.state != "sent":
        return N_("common.stale_button")
    if user is None:  # a 收到 stops reminders and escalation: only a person the office registered gives it
        return N_("warning.receipt_registered_only")
    if delivery.user_id is not None:  # a person's own copy, in their private chat
        allowed = delivery.chat_id == chat_id and await may(
            repos, user, Action.WARNING_RECEIVE, owner_id=delivery.user_id
        )
    else:  # a duty group's copy: pressed in that group
        allowed = await may(repos, user, Action.WARNING_RECEIVE, chat_id=delivery.chat_id, where=chat_id)
    if not allowed:
        return N_("warning.receipt_not_yours")
    if delivery.received_at is not None:
        return N_("warning.received_already")
    await repos.warnings.mark_received(delivery_id, user.telegram_id, config.clock())
    return N_("warning.received")


# ---- receipt reminders (through the lifecycle scheduler) ------------------------------------------------
async def fire_receipts(repos: Repos, now: datetime, config: Config, batch: int) -> tuple[list[ReceiptNotice], bool]:
    """Unconfirmed recipients: one reminder after `remind_after`, then their unit's duty leaders are told
    after `escalate_after` (one notice per leader and warning, listing who has not confirmed)."""
    rows = await repos.warnings.claim_receipts(now, batch)
    notices: list[ReceiptNotice] = []
    leaders: dict[tuple[int, int], ReceiptNotice] = {}
    warnings: dict[int, tuple[Warning | None, bool]] = {}
    steps: dict[tuple[int, int], int] = {}
    for d in rows:
        if d.warning_id not in warnings:
            w = await repos.warnings.get(d.warning_id)
            standing = w is not None and w.expires_at > now and not await _lifted(repos, w)
            warnings[d.warning_id] = (w, standing)
        w, standing = warnings[d.warning_id]
        if w is None or not standing or d.received_at is not None or d.sent_at is None:
            d.remind_at = None
            continue
        if d.remind_steps == 0:
            notices.append(ReceiptNotice(d.chat_id, "remind", w.id, w.number, w.fields, d.locale, d.id))
            d.remind_steps, d.remind_at = 1, d.sent_at + config.warnings.escalate_after
            if d.remind_at <= now:  # a long stop: the leader's step is due too
                d.remind_at = now
        else:
            await _tell_leaders(repos, d, w, leaders, now)
            d.remind_steps, d.remind_at = 2, None
        steps[(w.id, d.remind_steps)] = steps.get((w.id, d.remind_steps), 0) + 1
    for (warning_id, step), n in steps.items():
        await repos.audit.record(
            "system",
            "warning.receipt_remind" if step == 1 else "warning.receipt_escalate",
            "warning",
            warning_id,
            after={"recipients": n},
        )
    await repos.session.flush()
    return notices + list(leaders.values()), len(rows) >= batch


async def _lifted(repos: Repos, w: Warning) -> bool:
    chain = await repos.warnings.chain(w.root_id or w.id)
    return any(x.msg_type == "cancel" and x.state == "published" for x in chain)


async def _tell_leaders(
    repos: Repos, d: WarningDelivery, w: Warning, leaders: dict[tuple[int, int], ReceiptNotice], now: datetime
) -> None:
    unit = await repos.units.get(d.unit_id) if d.unit_id else None
    if unit is None:
        return
    people = await duty_leaders(repos, unit.id, now) or await unit_admins(repos, unit)
    if d.user_id is not None:
        person = await repos.users.get(d.user_id)
        name = person.name if person else str(d.chat_id)
    else:
        group = await repos.groups.by_chat(d.chat_id)
        name = (group.title if group and group.title else None) or str(d.chat_id)
    for leader in people:
        key = (leader.telegram_id, w.id)
        if key not in leaders:
            leaders[key] = ReceiptNotice(
                leader.telegram_id, "leader", w.id, w.number, w.fields, leader.locale, unit=unit.name
            )
        leaders[key].names.append(name)


async def next_receipt_step(repos: Repos) -> datetime | None:
    return await repos.warnings.next_remind_at()


# ---- CAP -------------------------------------------------------------------------------------------------
async def cap_message(
    repos: Repos, ref: str, sender: str, config: Config, user: Member | None = None
) -> cap.CapMessage | None:
    """A published (or pending) warning message as CAP: its references name every earlier message. For a person
    (`user`): None unless they may see it; the operator's CLI passes none."""
    w = await find(repos, ref)
    if w is None or (user is not None and not await may_see(repos, user, await root_of(repos, w))):
        return None
    references = []
    if w.root_id is not None:
        for earlier in await repos.warnings.chain(w.root_id):
            if earlier.id < w.id and earlier.state == "published":
                sent = earlier.published_at or earlier.created_at
                references.append(cap.reference(sender, earlier.number, sent, config.tz))
    return cap.CapMessage(
        identifier=w.number,
        sender=sender,
        sent=w.published_at or w.created_at,
        msg_type=w.msg_type,
        fields=dict(w.fields),
        references=tuple(references),
    )


def cap_answers(message: cap.CapMessage, now: datetime) -> dict[str, Any]:
    """An imported file's fields as the warning form's answers (the publisher completes and reviews them)."""
    f = dict(message.fields)
    answers = {
        k: f.get(k)
        for k in (
            "category",
            "subtype",
            "event",
            "level",
            "area",
            "onset",
            "expires",
            "text",
            "measures",
            "authority",
            "phone",
        )
        if f.get(k)
    }
    answers["drill"] = "yes" if f.get("drill") else "no"
    if answers.get("expires") and datetime.fromisoformat(str(answers["expires"])) <= now:
        answers.pop("expires")  # already over: the publisher sets a new end
    return answers


async def import_cap(
    repos: Repos, user: Member, data: bytes, targets: Mapping[str, Any], config: Config, token: str
) -> WarningFiled:
    """A CAP file (the CLI) as a new warning by `user` for `targets`, through the normal approval."""
    message = cap.parse(data, config.tz)
    now = config.clock()
    answers: dict[str, Any] = cap_answers(message, now)
    missing = [k for k in ("area", "expires", "text", "measures", "authority") if not answers.get(k)]
    if missing:
        raise cap.CapError(missing[0], "missing or already past: needed to issue the warning")
    answers.update(
        {
            "units": {"selected": [str(u) for u in targets["units"]]},
            "subunits": "yes" if targets.get("subunits") else "no",
            "roles": {"selected": list(targets.get("roles") or [])},
            "groups": "yes" if targets.get("groups") else "no",
        }
    )
    cap_ref = f"{message.sender},{message.identifier},{message.sent.isoformat()}"[:500]
    draft = {"token": token, "answers": answers, "base": {"cap_ref": cap_ref}, "subject": None}
    return await submit_warning(repos, user, draft, {}, config)


async def cap_form(repos: Repos, user: Member, data: bytes, config: Config) -> tuple[dict[str, Any], dict[str, Any]]:
    """A CAP file a publisher sent: the warning form's answers and base (raises cap.CapError naming the problem)."""
    message = cap.parse(data, config.tz)
    if message.msg_type == "cancel":
        raise cap.CapError("msgType", "a cancellation cannot be imported as a new warning")
    base = await form_base(repos, user)
    base["cap_ref"] = f"{message.sender},{message.identifier},{message.sent.isoformat()}"[:500]
    return cap_answers(message, config.clock()), base
