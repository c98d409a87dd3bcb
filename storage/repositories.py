"""Repositories: queries and changes on one session. They flush when they need ids; never commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache, cached_property
from typing import Any

from sqlalchemy import Integer, String, bindparam, cast, delete, func, insert, literal, null, select, union_all, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.clock import utcnow
from storage import driversql
from storage.desk import DeskRepo
from storage.dialect import upsert_insert
from storage.models import (
    Acknowledgement,
    Alert,
    AlertPart,
    Attachment,
    AuditEntry,
    DailyCounter,
    Deadline,
    DutyGroup,
    FsmRecord,
    Incident,
    Invite,
    Report,
    Unit,
    User,
    UserRole,
    WarningDelivery,
)
from storage.roster import RosterRepo
from storage.stats import StatsRepo
from storage.warnings import LeaseRepo, WarningRepo

# Rows changed after each delivery (and a receipt's place) by a plain UPDATE of the table: an ORM-enabled UPDATE costs
# several times more Python (its bulk machinery looks for the rows in the session); none of these rows is held in the
# session when they change (filing writes them with `_insert`, the courier's transactions read nothing first).
ALERTS, PARTS, REPORTS, INCIDENTS = Alert.__table__, AlertPart.__table__, Report.__table__, Incident.__table__
AUDIT, DEADLINES, ATTACHMENTS = AuditEntry.__table__, Deadline.__table__, Attachment.__table__


@dataclass(frozen=True)
class AuditRow:
    """An audit entry written by a statement of its own (AuditRepo.record adds one to the session instead)."""

    actor: str
    action: str
    entity: str
    entity_id: str
    after: dict[str, Any]
    at: datetime = field(default_factory=utcnow)

    def values(self, after: dict[str, Any] | None) -> dict[str, Any]:
        row = {"at": self.at, "actor": self.actor, "action": self.action, "entity": self.entity,
               "entity_id": self.entity_id}  # fmt: skip
        return row if after is None else {**row, "after": after}


_AUDIT_INSERT = insert(AUDIT)
_SET_NUMBER = update(INCIDENTS).where(INCIDENTS.c.id == bindparam("incident_id")).values(number=bindparam("number"))


@cache
def _next_number(dialect: str) -> Any:
    """The day's counter, taken (upsert … RETURNING), built once per backend."""
    return (
        upsert_insert(dialect)(DailyCounter)
        .values(day=bindparam("day"), value=1)
        .on_conflict_do_update(index_elements=[DailyCounter.day], set_={"value": DailyCounter.value + 1})
        .returning(DailyCounter.value)
    )


@cache
def _unit_with_groups() -> Any:
    """A unit's columns, its duty group's and its parent unit's duty group's (none: NULLs), in one row."""
    units, groups = Unit.__table__, DutyGroup.__table__
    own, parent = groups.alias("own_group"), groups.alias("parent_group")
    return (
        select(*units.c, *own.c, *parent.c)
        .select_from(units.outerjoin(own, own.c.unit_id == units.c.id)
                     .outerjoin(parent, parent.c.unit_id == units.c.parent_id))
        .where(units.c.id == bindparam("unit_id"))
    )  # fmt: skip


async def _insert(s: AsyncSession, obj: Any, unless: tuple[str, ...] = ()) -> bool:
    """Write a new ORM object's row with one Core INSERT … RETURNING and set what the database generated (the id,
    column defaults) on it, as a flush would. The ORM's flush costs about half a millisecond of Python a call, and
    filing a report took five. The object stays out of the session: for rows a transaction writes once and does not
    change again (read them back through the session to change them). `unless`: a unique key's columns; a row
    with the same key there already (or being written by another transaction that then commits) writes nothing
    and returns False (INSERT … ON CONFLICT DO NOTHING, no savepoint)."""
    statement, columns = _insert_of(type(obj), s.bind.dialect.name if unless else "", unless)
    values = {column.key: v for key, column in columns if (v := obj.__dict__.get(key)) is not None}
    rows = await driversql.run(s, statement, values)
    if not rows:
        return False
    row = rows[0]
    for (key, _column), value in zip(columns, row, strict=True):
        setattr(obj, key, value)
    return True


_PART_SENT = (
    update(PARTS).where(PARTS.c.id == bindparam("part_id"))
    .values(message_id=bindparam("part_message"), sent_at=bindparam("at"))
)  # fmt: skip


@cache
def _alert_sent(complete: bool) -> Any:
    """The alert's text was accepted (`complete`: it was its last part: stop retrying)."""
    values: dict[str, Any] = {"chat_id": bindparam("alert_chat"), "message_id": bindparam("alert_message"),
                              "sent_at": bindparam("at")}  # fmt: skip
    if complete:
        values.update(next_attempt_at=None, last_error=None)
    return update(ALERTS).where(ALERTS.c.id == bindparam("alert")).values(**values)


@cache
def _text_sent(complete: bool) -> Any:
    """PostgreSQL: the text part and its alert, one statement."""
    return _alert_sent(complete).add_cte(_PART_SENT.cte("part_sent"))


@cache
def _insert_rows(table: Any, keys: tuple[str, ...], n: int) -> Any:
    """An INSERT of `n` rows with the columns `keys` given in each (parameters `key_i`), built once."""
    return insert(table).values([{k: bindparam(f"{k}_{i}", type_=table.c[k].type) for k in keys} for i in range(n)])


def _link(
    incident: Incident,
    report: Report,
    deadlines: list[dict[str, Any]],
    alerts: list[tuple[Alert, list[AlertPart]]],
    attachments: list[Attachment],
) -> None:
    """Set the ids a new incident's rows refer to (IncidentRepo.file_new)."""
    report.incident_id = incident.id
    for attachment in attachments:
        attachment.report_id = report.id
    for row in deadlines:
        row["incident_id"] = incident.id
        if row["state"] == "met":
            row["report_id"] = report.id
    for alert, parts in alerts:
        alert.incident_id, alert.report_id = incident.id, report.id
        for part in parts:
            part.alert_id = alert.id


def _row_columns(table: Any, *linked: str) -> tuple[str, ...]:
    """A table's columns but its id and those `linked` to a row written in the same statement."""
    return tuple(c.key for c in table.c if c.key != "id" and c.key not in linked)


def _row_values(obj: Any, *linked: str) -> dict[str, Any]:
    """Every column of a new object's row (_row_columns): its values, a column's Python default where it has none
    (set on the object too, as a flush would)."""
    _statement, columns = _insert_of(type(obj))
    values: dict[str, Any] = {}
    for key, column in columns:
        if column.key == "id" or column.key in linked:
            continue
        value = obj.__dict__.get(key)
        if value is None and column.default is not None:
            value = column.default.arg if column.default.is_scalar else column.default.arg(None)
            setattr(obj, key, value)
        values[column.key] = value
    return values


@cache
def _filing(attachments: int, met: tuple[bool, ...], parts: tuple[int, ...]) -> Any:
    """PostgreSQL: a new incident, numbered, with its first report, the report's attachments, the incident's
    deadlines (`met`: for each, whether this report met it), its alerts, each alert's parts and the audit entry, in
    one statement: INSERTs chained by data-modifying CTEs, each row taking the ids it refers to from the rows
    written before it (foreign keys are checked at the statement's end). The incident's id is drawn first and the
    report written with it unless its draft token is taken (ON CONFLICT DO NOTHING); everything else is written
    only with the report, so a draft filed before takes no number and writes nothing. The day's counter row stays
    locked from here to the commit (at once, when it runs on its own: see file_new).

    Returns one row: the incident's id and number (NULL: the draft was filed before), the report's id, then the
    attachments', alerts' and parts' ids in order. Parameters: `day`, `prefix`, the audit entry's (`au_…`), each
    row's columns (_row_columns) prefixed `i_`, `r_`, `t{k}_`, `d{k}_`, `a{j}_`, `p{j}_{m}_`. Built once per
    shape."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    def binds(table: Any, prefix: str, columns: tuple[str, ...]) -> list[Any]:
        return [bindparam(f"{prefix}_{c}", type_=table.c[c].type) for c in columns]

    ids = select(func.nextval(func.pg_get_serial_sequence("incidents", "id")).label("id")).cte("ids")
    columns = _row_columns(REPORTS, "incident_id")
    r = (
        pg_insert(REPORTS).from_select(["incident_id", *columns], select(ids.c.id, *binds(REPORTS, "r", columns)))
        .on_conflict_do_nothing(index_elements=[REPORTS.c.reporter_id, REPORTS.c.draft_token])
        .returning(REPORTS.c.id, REPORTS.c.incident_id).cte("r")
    )  # fmt: skip
    counters = DailyCounter.__table__
    taken = (
        pg_insert(counters)
        .from_select(["day", "value"], select(bindparam("day", type_=String), literal(1)).select_from(r))
        .on_conflict_do_update(index_elements=[counters.c.day], set_={"value": counters.c.value + 1})
        .returning(counters.c.value).cte("taken")
    )  # fmt: skip
    seq = cast(taken.c.value, String)
    number = bindparam("prefix", type_=String) + func.lpad(seq, func.greatest(4, func.length(seq)), "0")
    columns = _row_columns(INCIDENTS, "number")
    row = select(r.c.incident_id, number, *binds(INCIDENTS, "i", columns)).select_from(r, taken)
    i = insert(INCIDENTS).from_select(["id", "number", *columns], row)
    i = i.returning(INCIDENTS.c.id, INCIDENTS.c.number).cte("i")
    audit_columns = ["at", "actor", "action", "entity"]
    after = cast(bindparam("au_after", type_=AUDIT.c.after.type), AUDIT.c.after.type)
    row = select(*(bindparam(f"au_{c}", type_=AUDIT.c[c].type) for c in audit_columns), cast(i.c.id, String),
                 after.op("||")(func.jsonb_build_object("number", i.c.number)))  # fmt: skip
    audit = insert(AUDIT).from_select([*audit_columns, "entity_id", "after"], row).cte("au")
    ctes: list[Any] = [ids, r, taken, i, audit]
    returned: list[Any] = [r]
    columns = _row_columns(ATTACHMENTS, "report_id")
    for k in range(attachments):
        row = select(r.c.id, *binds(ATTACHMENTS, f"t{k}", columns))
        ctes.append(insert(ATTACHMENTS).from_select(["report_id", *columns], row)
                    .returning(ATTACHMENTS.c.id).cte(f"t{k}"))  # fmt: skip
        returned.append(ctes[-1])
    columns = _row_columns(DEADLINES, "incident_id", "report_id")
    deadlines = [  # one INSERT, in order (data-modifying CTEs run in no set order)
        select(r.c.incident_id, r.c.id if by_this else cast(null(), Integer), *binds(DEADLINES, f"d{k}", columns))
        .select_from(r)
        for k, by_this in enumerate(met)
    ]  # fmt: skip
    if deadlines:
        rows = deadlines[0] if len(deadlines) == 1 else union_all(*deadlines)
        ctes.append(insert(DEADLINES).from_select(["incident_id", "report_id", *columns], rows).cte("d"))
    alert_columns, part_columns = _row_columns(ALERTS, "incident_id", "report_id"), _row_columns(PARTS, "alert_id")
    alerts: list[Any] = []
    for j in range(len(parts)):
        row = select(r.c.incident_id, r.c.id, *binds(ALERTS, f"a{j}", alert_columns))
        alert = insert(ALERTS).from_select(["incident_id", "report_id", *alert_columns], row)
        alerts.append(alert.returning(ALERTS.c.id).cte(f"a{j}"))
        ctes.append(alerts[-1])
    returned += alerts
    for j, count in enumerate(parts):
        for m in range(count):
            row = select(alerts[j].c.id, *binds(PARTS, f"p{j}_{m}", part_columns))
            ctes.append(insert(PARTS).from_select(["alert_id", *part_columns], row)
                        .returning(PARTS.c.id).cte(f"p{j}_{m}"))  # fmt: skip
            returned.append(ctes[-1])
    found = [select(i.c.id).scalar_subquery(), select(i.c.number).scalar_subquery()]
    return select(*found, *(select(cte.c.id).scalar_subquery() for cte in returned)).add_cte(*ctes)


@cache
def _insert_of(model: type, dialect: str = "", unless: tuple[str, ...] = ()) -> tuple[Any, list[tuple[str, Any]]]:
    """One INSERT … RETURNING statement per model (and key it may skip on), built once (its values come as
    parameters: the statement and its cache key are not built again for every row)."""
    mapper = sa_inspect(model)
    columns = [(prop.key, prop.columns[0]) for prop in mapper.column_attrs]
    statement = upsert_insert(dialect)(mapper.local_table) if unless else insert(mapper.local_table)
    if unless:
        statement = statement.on_conflict_do_nothing(index_elements=[mapper.local_table.c[k] for k in unless])
    return statement.returning(*(c for _, c in columns)), columns


class UnitRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def by_code(self, code: str) -> Unit | None:
        return await self.s.scalar(select(Unit).where(Unit.code == code))

    async def get(self, unit_id: int) -> Unit | None:
        return await self.s.get(Unit, unit_id)

    async def with_duty_groups(self, unit_id: int) -> tuple[Unit, DutyGroup | None, DutyGroup | None] | None:
        """A unit, its duty group and its parent unit's duty group, in one statement (what filing alerts). Read-only
        copies, not in the session (a change to them is not written). A read on its own: it opens no transaction."""
        rows = await driversql.run(self.s, _unit_with_groups(), {"unit_id": unit_id}, alone=True)
        if not rows:
            return None
        unit_keys, group_keys = Unit.__table__.c.keys(), DutyGroup.__table__.c.keys()
        values, n = rows[0], len(unit_keys)
        own, parent = values[n : n + len(group_keys)], values[n + len(group_keys) :]
        key = group_keys.index("chat_id")  # the primary key: NULL when the outer join found no group
        return (Unit(**dict(zip(unit_keys, values[:n], strict=True))),
                None if own[key] is None else DutyGroup(**dict(zip(group_keys, own, strict=True))),
                None if parent[key] is None else DutyGroup(**dict(zip(group_keys, parent, strict=True))))  # fmt: skip

    async def add(self, code: str, name: str, parent_id: int | None) -> Unit:
        unit = Unit(code=code, name=name, parent_id=parent_id)
        self.s.add(unit)
        await self.s.flush()
        return unit

    async def all(self) -> Sequence[Unit]:
        return (await self.s.scalars(select(Unit).order_by(Unit.code))).all()

    async def tree(self) -> list[tuple[int, int | None]]:
        """Every unit as (id, parent id): the tree, for bot.domain.units."""
        return [(int(r[0]), r[1]) for r in (await self.s.execute(select(Unit.id, Unit.parent_id))).all()]

    async def is_descendant(self, unit_id: int, ancestor_id: int) -> bool:
        """True when unit_id is ancestor_id itself or lies below it in the tree."""
        current: int | None = unit_id
        seen: set[int] = set()
        while current is not None and current not in seen:
            if current == ancestor_id:
                return True
            seen.add(current)
            current = await self.s.scalar(select(Unit.parent_id).where(Unit.id == current))
        return False


class UserRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def get(self, user_id: int) -> User | None:
        return await self.s.get(User, user_id)

    _by_telegram_id = select(User).where(User.telegram_id == bindparam("telegram_id"))

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        """The user behind a Telegram account (runs on every update: one prebuilt statement)."""
        result = await self.s.execute(self._by_telegram_id, {"telegram_id": telegram_id})
        return result.unique().scalar_one_or_none()

    async def add(self, telegram_id: int, name: str, unit_id: int, roles: set[str], phone: str | None = None) -> User:
        user = User(telegram_id=telegram_id, name=name, unit_id=unit_id, phone=phone, active=True)
        user.role_rows = [UserRole(role=r) for r in sorted(roles)]
        self.s.add(user)
        await self.s.flush()
        return user

    async def set_roles(self, user: User, roles: set[str]) -> None:
        await self.s.execute(delete(UserRole).where(UserRole.user_id == user.id))
        user.role_rows = [UserRole(user_id=user.id, role=r) for r in sorted(roles)]
        await self.s.flush()

    async def list(self, unit_id: int | None = None) -> Sequence[User]:
        q = select(User).order_by(User.id)
        if unit_id is not None:
            q = q.where(User.unit_id == unit_id)
        return (await self.s.scalars(q)).unique().all()

    async def with_role(self, unit_id: int, role: str) -> Sequence[User]:
        q = (
            select(User)
            .join(UserRole)
            .where(User.unit_id == unit_id, UserRole.role == role, User.active.is_(True))
            .order_by(User.id)
        )
        return (await self.s.scalars(q)).unique().all()


class InviteRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(self, code: str, unit_id: int, role: str, expires_at: datetime) -> Invite:
        invite = Invite(code=code, unit_id=unit_id, role=role, expires_at=expires_at)
        self.s.add(invite)
        await self.s.flush()
        return invite

    async def get_for_update(self, code: str) -> Invite | None:
        return await self.s.scalar(select(Invite).where(Invite.code == code).with_for_update())


class DutyGroupRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def for_unit(self, unit_id: int) -> DutyGroup | None:
        return await self.s.scalar(select(DutyGroup).where(DutyGroup.unit_id == unit_id))

    async def all(self) -> Sequence[DutyGroup]:
        return (await self.s.scalars(select(DutyGroup).order_by(DutyGroup.unit_id))).all()

    async def by_chat(self, chat_id: int) -> DutyGroup | None:
        return await self.s.get(DutyGroup, chat_id)

    async def bind(self, chat_id: int, unit_id: int, title: str | None, bound_by: int | None) -> DutyGroup:
        """Make chat_id the duty group of unit_id, replacing earlier bindings of either."""
        await self.s.execute(delete(DutyGroup).where((DutyGroup.unit_id == unit_id) | (DutyGroup.chat_id == chat_id)))
        group = DutyGroup(chat_id=chat_id, unit_id=unit_id, title=title, bound_by=bound_by, bound_at=utcnow())
        self.s.add(group)
        await self.s.flush()
        return group

    async def learn_title(self, chat_id: int, title: str | None) -> None:
        """Keep the group's title as Telegram gave it, when the binding had none (bound from the CLI)."""
        if title:
            await self.s.execute(
                update(DutyGroup).where(DutyGroup.chat_id == chat_id, DutyGroup.title.is_(None)).values(title=title)
            )

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        group = await self.by_chat(old_chat_id)
        if group is not None:
            unit_id, title, bound_by = group.unit_id, group.title, group.bound_by
            await self.s.delete(group)
            await self.s.flush()
            await self.bind(new_chat_id, unit_id, title, bound_by)
        # early-warning recipients: the rows still to send go to the new chat, and receipts stay found
        await self.s.execute(update(WarningDelivery).where(WarningDelivery.chat_id == old_chat_id)
                             .values(chat_id=new_chat_id))  # fmt: skip


class AuditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def record(
        self,
        actor: str,
        action: str,
        entity: str,
        entity_id: str | int,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        self.s.add(
            AuditEntry(
                actor=actor,
                action=action,
                entity=entity,
                entity_id=str(entity_id),
                before=before,
                after=after,
            )
        )

    async def entries(self, entity: str | None = None) -> Sequence[AuditEntry]:
        q = select(AuditEntry).order_by(AuditEntry.id)
        if entity:
            q = q.where(AuditEntry.entity == entity)
        return (await self.s.scalars(q)).all()


class IncidentRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def next_number(self, day: str) -> int:
        """Atomically take the next sequence number of a day (upsert … RETURNING on both backends)."""
        return int((await driversql.run(self.s, _next_number(self.s.bind.dialect.name), {"day": day}))[0][0])

    async def take_number(self, incident_id: int, day: str, prefix: str, audit: AuditRow) -> str:
        """The incident's number, `prefix` and the day's next sequence number (four digits at least), and the audit
        entry that records the filing with it (`after["number"]`): the last thing a filing does (see file_new), as
        the day's counter row stays locked from here to the commit."""
        number = f"{prefix}{await self.next_number(day):04d}"
        await driversql.run(self.s, _SET_NUMBER, {"incident_id": incident_id, "number": number})
        await driversql.run(self.s, _AUDIT_INSERT, audit.values({**audit.after, "number": number}))
        return number

    async def report_by_token(self, reporter_id: int, token: str) -> Report | None:
        """The report a reporter filed from one draft (the draft token is the idempotency key)."""
        q = select(Report).where(Report.reporter_id == reporter_id, Report.draft_token == token)
        return await self.s.scalar(q)

    async def get(self, incident_id: int) -> Incident | None:
        return await self.s.get(Incident, incident_id)

    async def by_number(self, number: str) -> Incident | None:
        return await self.s.scalar(select(Incident).where(Incident.number == number).with_for_update())

    async def get_for_update(self, incident_id: int) -> Incident | None:
        """The incident, locked until the transaction ends (reports about it are numbered one at a time)."""
        q = select(Incident).where(Incident.id == incident_id).with_for_update()
        return await self.s.scalar(q.execution_options(populate_existing=True))

    async def open_for(self, user_id: int, unit_id: int, limit: int) -> Sequence[Incident]:
        """Incidents not closed that a person reported or their unit owns, most recent first."""
        q = (
            select(Incident)
            .where(Incident.status != "closed", (Incident.reporter_id == user_id) | (Incident.unit_id == unit_id))
            .order_by(Incident.occurred_at.desc(), Incident.id.desc())
            .limit(limit)
        )
        return (await self.s.scalars(q)).all()

    async def count_reports(self, incident_id: int, kind: str) -> int:
        q = select(func.count()).select_from(Report).where(Report.incident_id == incident_id, Report.kind == kind)
        return int(await self.s.scalar(q) or 0)

    async def add_report(self, report: Report, attachments: list[Attachment]) -> None:
        """A later report about a known incident, with its attachments."""
        self.s.add(report)
        await self.s.flush()
        for attachment in attachments:
            attachment.report_id = report.id
            self.s.add(attachment)
        await self.s.flush()

    async def add(self, incident: Incident, report: Report, attachments: list[Attachment]) -> bool:
        """A new incident with its first report (rows written at once, see `_insert`). False, and nothing written,
        when the report's draft was filed before (its reporter's draft token is taken: a second tap, a redelivery,
        the same update in another process)."""
        await _insert(self.s, incident)
        report.incident_id = incident.id
        if not await _insert(self.s, report, unless=("reporter_id", "draft_token")):
            await self.s.execute(delete(INCIDENTS).where(INCIDENTS.c.id == incident.id))
            return False
        for attachment in attachments:
            attachment.report_id = report.id
            await _insert(self.s, attachment)
        return True

    async def file_new(
        self, incident: Incident, report: Report, attachments: list[Attachment], deadlines: list[dict[str, Any]],
        alerts: list[tuple[Alert, list[AlertPart]]], day: str, prefix: str, audit: AuditRow,
    ) -> str | None:  # fmt: skip
        """A new incident with its first report and the report's attachments (as add()), the incident's deadlines
        (rows, see DeadlineRepo.add_rows: `incident_id` is set from the incident here, and a row in state "met"
        was met by this report: its `report_id` too), its alerts and each alert's parts (their ids, and the ids
        they refer to, set here), then its number, taken last (as take_number; `audit`: the filing's entry, its
        entity id set here). Returns the number; None, and nothing written, when the report's draft was filed
        before. SQLite: a statement for each; PostgreSQL: one statement (see _filing), a round trip instead of
        six, committed on its own when the transaction has written nothing before it (no BEGIN, no COMMIT, and the
        day's counter row is locked only while the statement runs): complete and idempotent by itself (the draft
        token), it needs nothing the update writes after it, and a replay of the update finds it filed."""
        if self.s.bind.dialect.name != "postgresql":
            if not await self.add(incident, report, attachments):
                return None
            _link(incident, report, deadlines, alerts, [])
            await DeadlineRepo(self.s).add_rows(deadlines)
            await self.add_alerts(alerts)
            audit = replace(audit, entity_id=str(incident.id))
            incident.number = await self.take_number(incident.id, day, prefix, audit)
            return incident.number
        params: dict[str, Any] = {"day": day, "prefix": prefix, "au_after": audit.after}
        params.update({f"au_{k}": v for k, v in audit.values(None).items() if k != "entity_id"})
        params.update({f"i_{k}": v for k, v in _row_values(incident, "number").items()})
        params.update({f"r_{k}": v for k, v in _row_values(report, "incident_id").items()})
        for n, attachment in enumerate(attachments):
            params.update({f"t{n}_{k}": v for k, v in _row_values(attachment, "report_id").items()})
        columns = _row_columns(DEADLINES, "incident_id", "report_id")
        for n, row in enumerate(deadlines):
            params.update({f"d{n}_{k}": row[k] for k in columns})
            wake_at(self.s, row["next_at"])
        for j, (alert, parts) in enumerate(alerts):
            params.update({f"a{j}_{k}": v for k, v in _row_values(alert, "incident_id", "report_id").items()})
            for m, part in enumerate(parts):
                params.update({f"p{j}_{m}_{k}": v for k, v in _row_values(part, "alert_id").items()})
        shape = (len(attachments), tuple(row["state"] == "met" for row in deadlines), tuple(len(p) for _, p in alerts))
        ids = iter((await driversql.run(self.s, _filing(*shape), params, alone=True))[0])
        incident.id, number, report.id = next(ids), next(ids), next(ids)
        if number is None:  # the draft's report is there: nothing was written
            return None
        incident.number = number
        for attachment in attachments:
            attachment.id = next(ids)
        for alert, _parts in alerts:
            alert.id = next(ids)
        for _alert, parts in alerts:
            for part in parts:
                part.id = next(ids)
        _link(incident, report, deadlines, alerts, attachments)
        return number

    async def reports(self, incident_id: int) -> Sequence[Report]:
        q = select(Report).where(Report.incident_id == incident_id).order_by(Report.id)
        return (await self.s.scalars(q)).all()

    async def attachments(self, report_id: int) -> Sequence[Attachment]:
        q = select(Attachment).where(Attachment.report_id == report_id).order_by(Attachment.position)
        return (await self.s.scalars(q)).all()

    async def add_alert(self, alert: Alert) -> Alert:
        await _insert(self.s, alert)
        return alert

    async def alert(self, alert_id: int) -> Alert | None:
        return await self.s.get(Alert, alert_id)

    async def alert_complete(self, alert_id: int) -> None:
        """Every part of the alert was accepted: stop retrying."""
        done = update(ALERTS).where(ALERTS.c.id == alert_id).values(next_attempt_at=None, last_error=None)
        await self.s.execute(done)

    async def add_alerts(self, alerts: Sequence[tuple[Alert, Sequence[AlertPart]]]) -> None:
        """New alerts, each with its parts (their alert's id set here), a statement a row."""
        for alert, parts in alerts:
            await _insert(self.s, alert)
            for part in parts:
                part.alert_id = alert.id
                await _insert(self.s, part)

    async def pending_parts(self, alert_id: int) -> Sequence[AlertPart]:
        q = select(AlertPart).where(AlertPart.alert_id == alert_id, AlertPart.message_id.is_(None))
        return (await self.s.scalars(q.order_by(AlertPart.position))).all()

    async def part_sent(self, part_id: int, message_id: int, at: datetime) -> None:
        await driversql.run(self.s, _PART_SENT, {"part_id": part_id, "part_message": message_id, "at": at})

    async def text_sent(self, part_id: int, alert_id: int, chat_id: int, message_id: int, at: datetime,
                        complete: bool, alone: bool = False) -> None:  # fmt: skip
        """Telegram accepted an alert's text part: the part's message, and the alert's (in the chat it ended up in;
        `complete`: it was the alert's last part, stop retrying). On PostgreSQL one statement (`alone`: the
        transaction's only write, then run on its own without BEGIN and COMMIT), on SQLite two."""
        # (each statement is given only its own parameters: SQLAlchemy, like this, takes a parameter named as a
        # column of the updated table for a value to SET)
        part = {"part_id": part_id, "part_message": message_id, "at": at}
        alert = {"alert": alert_id, "alert_chat": chat_id, "alert_message": message_id, "at": at}
        if self.s.bind.dialect.name == "postgresql":
            await driversql.run(self.s, _text_sent(complete), part | alert, alone=alone)
        else:
            await driversql.run(self.s, _PART_SENT, part)
            await driversql.run(self.s, _alert_sent(complete), alert)

    async def undelivered_alerts(self, now: datetime | None, limit: int = 50) -> Sequence[int]:
        """Ids of alerts with a part Telegram has not accepted yet, whose next attempt is due (every one of
        them when `now` is None), oldest first."""
        q = select(Alert.id).where(Alert.next_attempt_at.is_not(None))
        if now is not None:
            q = q.where(Alert.next_attempt_at <= now)
        return (await self.s.scalars(q.order_by(Alert.next_attempt_at, Alert.id).limit(limit))).all()

    async def claim_alert(
        self, alert_id: int, now: datetime, retry_at: datetime | None, due_only: bool = True
    ) -> Alert | None:
        """Take one undelivered alert for a delivery attempt (one process wins); count the attempt."""
        condition = [Alert.id == alert_id, Alert.next_attempt_at.is_not(None)]
        if due_only:
            condition.append(Alert.next_attempt_at <= now)
        result = await self.s.execute(
            update(Alert).where(*condition).values(attempts=Alert.attempts + 1, next_attempt_at=retry_at)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return await self.s.get(Alert, alert_id, populate_existing=True)

    async def alerts_of_report(self, report_id: int) -> Sequence[Alert]:
        q = select(Alert).where(Alert.report_id == report_id).order_by(Alert.id)
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def report(self, report_id: int) -> Report | None:
        return await self.s.get(Report, report_id)

    async def set_receipt(self, report_id: int, chat_id: int, message_id: int | None, locale: str) -> None:
        await self.s.execute(
            update(REPORTS)
            .where(REPORTS.c.id == report_id)
            .values(receipt_chat_id=chat_id, receipt_message_id=message_id, receipt_locale=locale)
        )

    async def alert_failed(self, alert_id: int, error: str) -> None:
        await self.s.execute(update(Alert).where(Alert.id == alert_id).values(last_error=error[:300]))

    async def alert_notice_sent(self, alert_id: int, at: datetime) -> None:
        await self.s.execute(update(Alert).where(Alert.id == alert_id).values(undelivered_notice_at=at))

    async def acknowledgements(self, alert_id: int) -> list[tuple[Acknowledgement, User]]:
        q = (
            select(Acknowledgement, User)
            .join(User, User.id == Acknowledgement.user_id)
            .where(Acknowledgement.alert_id == alert_id)
            .order_by(Acknowledgement.at, Acknowledgement.id)
        )
        return [(a, u) for a, u in (await self.s.execute(q)).unique().all()]

    async def add_acknowledgement(self, alert_id: int, user_id: int, at: datetime) -> bool:
        """Record one acknowledgement; False when this person already acknowledged."""
        insert = upsert_insert(self.s)
        stmt = (
            insert(Acknowledgement)
            .values(alert_id=alert_id, user_id=user_id, at=at)
            .on_conflict_do_nothing(index_elements=[Acknowledgement.alert_id, Acknowledgement.user_id])
            .returning(Acknowledgement.id)
        )
        return (await self.s.execute(stmt)).scalar_one_or_none() is not None


class DraftRepo:
    """Form drafts, kept in the conversation state rows (storage/fsm.py)."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def untouched(self, states: Sequence[str], before: datetime) -> Sequence[FsmRecord]:
        """Drafts last changed before `before`, locked for this transaction (others skip them)."""
        q = (
            select(FsmRecord)
            .where(FsmRecord.state.in_(states), FsmRecord.updated_at < before)
            .with_for_update(skip_locked=True)
        )
        return (await self.s.scalars(q)).all()

    async def delete(self, key: str) -> None:
        await self.s.execute(delete(FsmRecord).where(FsmRecord.key == key))


def wake_at(session: AsyncSession, at: datetime | None) -> None:
    """Remember the nearest timer this transaction set, so the scheduler can be woken once it commits."""
    if at is not None:
        known = session.info.get("wake_at")
        session.info["wake_at"] = at if known is None or at < known else known


class DeadlineRepo:
    """Reports due (statutory clocks) and the scheduler's claims on them."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(self, deadline: Deadline, flush: bool = True) -> Deadline:
        """Add a deadline (`flush=False`: written with the session's next flush, its id unknown until then)."""
        self.s.add(deadline)
        if flush:
            await self.s.flush()
        wake_at(self.s, deadline.next_at)
        return deadline

    async def add_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """New deadlines' rows (every column but the id, see bot.usecases.deadlines.open_row) in one statement; no
        ORM objects (nothing in the transaction reads them back or changes them)."""
        if not rows:
            return
        keys = tuple(rows[0])
        params = {f"{k}_{i}": row[k] for i, row in enumerate(rows) for k in keys}
        await driversql.run(self.s, _insert_rows(DEADLINES, keys, len(rows)), params)
        for row in rows:
            wake_at(self.s, row["next_at"])

    async def open_of(self, incident_id: int, dues: Sequence[str] | None = None) -> Sequence[Deadline]:
        q = select(Deadline).where(Deadline.incident_id == incident_id, Deadline.state == "open")
        if dues is not None:
            q = q.where(Deadline.due.in_(dues))
        return (await self.s.scalars(q.order_by(Deadline.due_at, Deadline.id).with_for_update())).all()

    async def of_incident(self, incident_id: int) -> Sequence[Deadline]:
        q = select(Deadline).where(Deadline.incident_id == incident_id).order_by(Deadline.id)
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def open_for_reporter(self, reporter_id: int) -> Sequence[Deadline]:
        q = select(Deadline).where(Deadline.reporter_id == reporter_id, Deadline.state == "open")
        return (await self.s.scalars(q.order_by(Deadline.due_at, Deadline.id))).all()

    async def latest_open(self, reporter_id: int, due: str) -> int | None:
        """The incident of a reporter's open deadline of this kind due last (None: none open); one row read."""
        q = (
            select(Deadline.incident_id)
            .where(Deadline.reporter_id == reporter_id, Deadline.state == "open", Deadline.due == due)
            .order_by(Deadline.due_at.desc(), Deadline.id.desc())
            .limit(1)
        )
        return await self.s.scalar(q)

    async def claim_due(self, now: datetime, limit: int) -> Sequence[Deadline]:
        """Deadlines with an action due, locked for this transaction: another scheduler (PostgreSQL) skips
        them, and sees them again only with their next action, after this one commits."""
        q = (
            select(Deadline)
            .where(Deadline.next_at <= now)
            .order_by(Deadline.next_at, Deadline.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def next_at(self) -> datetime | None:
        """When the nearest deadline action is due."""
        return await self.s.scalar(select(func.min(Deadline.next_at)))

    async def claim_unacknowledged(self, now: datetime, limit: int) -> Sequence[Alert]:
        """Delivered alerts nobody acknowledged whose next escalation step is due, locked like claim_due."""
        q = (
            select(Alert)
            .where(Alert.ack_due_at <= now)
            .order_by(Alert.ack_due_at, Alert.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.s.scalars(q.execution_options(populate_existing=True))).all()

    async def next_ack_at(self) -> datetime | None:
        return await self.s.scalar(select(func.min(Alert.ack_due_at)))


class Repos:
    """All repositories on one session: what a use case receives. Given a function instead of a session,
    the session is opened at the first use (an update's transaction needs none for a plain form step)."""

    def __init__(self, session: AsyncSession | Callable[[], AsyncSession],
                 latest_open: Callable[[int, str], Awaitable[int | None]] | None = None,
                 units: dict[int, Any] | None = None) -> None:  # fmt: skip
        self._open = session if callable(session) else lambda: session
        self._latest_open = latest_open  # an update's own read (storage.hotpath.UpdateTx), without an ORM session
        self._units = units  # the process's units with their duty groups, as of the update's start (storage.people)

    async def unit_with_groups(self, unit_id: int) -> tuple[Unit, DutyGroup | None, DutyGroup | None] | None:
        """UnitRepo.with_duty_groups, from the process's cache when the update was given one (storage.people: a
        change to units or duty groups, by whoever, is seen by the next update that starts after it committed)."""
        if self._units is not None and unit_id in self._units:
            found: tuple[Unit, DutyGroup | None, DutyGroup | None] = self._units[unit_id]
            return found
        found_now = await self.units.with_duty_groups(unit_id)
        if self._units is not None and found_now is not None:
            self._units[unit_id] = found_now
        return found_now

    async def latest_open_deadline(self, reporter_id: int, due: str) -> int | None:
        """DeadlineRepo.latest_open; in an update that has not opened its ORM session, read with the update's own
        driver statement instead (no session; on PostgreSQL no BEGIN and COMMIT around it, and `/report` reads it
        with the sender's row: three round trips fewer). With a session open, through it, so that what it has not
        flushed yet is seen."""
        if self._latest_open is not None and "session" not in self.__dict__:
            return await self._latest_open(reporter_id, due)
        return await self.deadlines.latest_open(reporter_id, due)

    @cached_property
    def session(self) -> AsyncSession:
        return self._open()

    @cached_property
    def units(self) -> UnitRepo:
        return UnitRepo(self.session)

    @cached_property
    def users(self) -> UserRepo:
        return UserRepo(self.session)

    @cached_property
    def invites(self) -> InviteRepo:
        return InviteRepo(self.session)

    @cached_property
    def groups(self) -> DutyGroupRepo:
        return DutyGroupRepo(self.session)

    @cached_property
    def audit(self) -> AuditRepo:
        return AuditRepo(self.session)

    @cached_property
    def incidents(self) -> IncidentRepo:
        return IncidentRepo(self.session)

    @cached_property
    def drafts(self) -> DraftRepo:
        return DraftRepo(self.session)

    @cached_property
    def deadlines(self) -> DeadlineRepo:
        return DeadlineRepo(self.session)

    @cached_property
    def warnings(self) -> WarningRepo:
        return WarningRepo(self.session)

    @cached_property
    def leases(self) -> LeaseRepo:
        return LeaseRepo(self.session)

    @cached_property
    def desk(self) -> DeskRepo:
        return DeskRepo(self.session)

    @cached_property
    def roster(self) -> RosterRepo:
        return RosterRepo(self.session)

    @cached_property
    def stats(self) -> StatsRepo:
        return StatsRepo(self.session)
