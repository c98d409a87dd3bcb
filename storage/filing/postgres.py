"""Filing a new incident on PostgreSQL: one statement."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Integer, String, bindparam, cast, func, insert, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from storage import driversql
from storage.filing.numbers import number_sql
from storage.filing.plan import FilingPlan, link
from storage.models import (
    DailyCounter,
)
from storage.repositories.deadlines import wake_at
from storage.rows import ALERTS, ATTACHMENTS, AUDIT, DEADLINES, INCIDENTS, PARTS, REPORTS, row_columns, row_values


@cache
def _filing(attachments: int, met: tuple[bool, ...], parts: tuple[int, ...]) -> Any:
    """PostgreSQL: a new incident, numbered, with its first report, the report's attachments, the incident's
    deadlines (`met`: for each, whether this report met it), its alerts, each alert's parts and the audit entry, in
    one statement: INSERTs chained by data-modifying CTEs, each row taking the ids it refers to from the rows
    written before it (foreign keys are checked at the statement's end). The incident's id is drawn first and the
    report written with it unless its draft token is taken (ON CONFLICT DO NOTHING); everything else is written
    only with the report, so a draft filed before takes no number and writes nothing. The day's counter row stays
    locked from here to the commit (at once, when it runs on its own: see `file`).

    Returns one row: the incident's id and number (NULL: the draft was filed before), the report's id, then the
    attachments', alerts' and parts' ids in order. Parameters: `day`, `prefix`, the audit entry's (`au_…`), each
    row's columns (row_columns) prefixed `i_`, `r_`, `t{k}_`, `d{k}_`, `a{j}_`, `p{j}_{m}_`. Built once per
    shape."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    def binds(table: Any, prefix: str, columns: tuple[str, ...]) -> list[Any]:
        return [bindparam(f"{prefix}_{c}", type_=table.c[c].type) for c in columns]

    ids = select(func.nextval(func.pg_get_serial_sequence("incidents", "id")).label("id")).cte("ids")
    columns = row_columns(REPORTS, "incident_id")
    r = (
        pg_insert(REPORTS)
        .from_select(["incident_id", *columns], select(ids.c.id, *binds(REPORTS, "r", columns)))
        .on_conflict_do_nothing(index_elements=[REPORTS.c.reporter_id, REPORTS.c.draft_token])
        .returning(REPORTS.c.id, REPORTS.c.incident_id)
        .cte("r")
    )
    counters = DailyCounter.__table__
    taken = (
        pg_insert(counters)
        .from_select(["day", "value"], select(bindparam("day", type_=String), literal(1)).select_from(r))
        .on_conflict_do_update(index_elements=[counters.c.day], set_={"value": counters.c.value + 1})
        .returning(counters.c.value)
        .cte("taken")
    )
    number = number_sql(bindparam("prefix", type_=String), taken.c.value)
    columns = row_columns(INCIDENTS, "number")
    row = select(r.c.incident_id, number, *binds(INCIDENTS, "i", columns)).select_from(r, taken)
    i = (
        insert(INCIDENTS)
        .from_select(["id", "number", *columns], row)
        .returning(INCIDENTS.c.id, INCIDENTS.c.number)
        .cte("i")
    )
    audit_columns = ["at", "actor", "action", "entity"]
    after = cast(bindparam("au_after", type_=AUDIT.c.after.type), AUDIT.c.after.type)
    row = select(
        *(bindparam(f"au_{c}", type_=AUDIT.c[c].type) for c in audit_columns),
        cast(i.c.id, String),
        after.op("||")(func.jsonb_build_object("number", i.c.number)),
    )
    audit = insert(AUDIT).from_select([*audit_columns, "entity_id", "after"], row).cte("au")
    ctes: list[Any] = [ids, r, taken, i, audit]
    returned: list[Any] = [r]
    columns = row_columns(ATTACHMENTS, "report_id")
    for k in range(attachments):
        row = select(r.c.id, *binds(ATTACHMENTS, f"t{k}", columns))
        ctes.append(
            insert(ATTACHMENTS).from_select(["report_id", *columns], row).returning(ATTACHMENTS.c.id).cte(f"t{k}")
        )
        returned.append(ctes[-1])
    columns = row_columns(DEADLINES, "incident_id", "report_id")
    deadlines = [  # one INSERT, in order (data-modifying CTEs run in no set order)
        select(
            r.c.incident_id, r.c.id if by_this else cast(null(), Integer), *binds(DEADLINES, f"d{k}", columns)
        ).select_from(r)
        for k, by_this in enumerate(met)
    ]
    if deadlines:
        rows = deadlines[0] if len(deadlines) == 1 else union_all(*deadlines)
        ctes.append(insert(DEADLINES).from_select(["incident_id", "report_id", *columns], rows).cte("d"))
    alert_columns, part_columns = row_columns(ALERTS, "incident_id", "report_id"), row_columns(PARTS, "alert_id")
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
            ctes.append(
                insert(PARTS).from_select(["alert_id", *part_columns], row).returning(PARTS.c.id).cte(f"p{j}_{m}")
            )
            returned.append(ctes[-1])
    found = [select(i.c.id).scalar_subquery(), select(i.c.number).scalar_subquery()]
    return select(*found, *(select(cte.c.id).scalar_subquery() for cte in returned)).add_cte(*ctes)


async def file(s: AsyncSession, plan: FilingPlan) -> str | None:
    """One statement (see _filing), a round trip instead of six, committed on its own when the transaction has
    written nothing before it (no BEGIN, no COMMIT, and the day's counter row is locked only while the statement
    runs): complete and idempotent by itself (the draft token), it needs nothing the update writes after it, and a
    replay of the update finds it filed."""
    incident, report, attachments, deadlines, alerts, audit = (
        plan.incident,
        plan.report,
        plan.attachments,
        plan.deadlines,
        plan.alerts,
        plan.audit,
    )
    params: dict[str, Any] = {"day": plan.day, "prefix": plan.prefix, "au_after": audit.after}
    params.update({f"au_{k}": v for k, v in audit.values(None).items() if k != "entity_id"})
    params.update({f"i_{k}": v for k, v in row_values(incident, "number").items()})
    params.update({f"r_{k}": v for k, v in row_values(report, "incident_id").items()})
    for n, attachment in enumerate(attachments):
        params.update({f"t{n}_{k}": v for k, v in row_values(attachment, "report_id").items()})
    columns = row_columns(DEADLINES, "incident_id", "report_id")
    for n, row in enumerate(deadlines):
        params.update({f"d{n}_{k}": row[k] for k in columns})
        wake_at(s, row["next_at"])
    for j, (alert, parts) in enumerate(alerts):
        params.update({f"a{j}_{k}": v for k, v in row_values(alert, "incident_id", "report_id").items()})
        for m, part in enumerate(parts):
            params.update({f"p{j}_{m}_{k}": v for k, v in row_values(part, "alert_id").items()})
    shape = (len(attachments), tuple(row["state"] == "met" for row in deadlines), tuple(len(p) for _, p in alerts))
    ids = iter((await driversql.run(s, _filing(*shape), params, alone=True))[0])
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
    link(plan)
    return str(number)
