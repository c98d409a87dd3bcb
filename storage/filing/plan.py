"""What filing a new incident writes, planned by the use case before anything is written (storage.filing.Filing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from storage.models import Alert, AlertPart, Attachment, Incident, Report
from storage.rows import AuditRow


@dataclass
class FilingPlan:
    """A new incident with its first report and the report's attachments, the incident's deadlines (rows, see
    DeadlineRepo.add_rows: `incident_id` is set from the incident as they are written, and a row in state "met"
    was met by this report: its `report_id` too), its alerts and each alert's parts, and the audit entry of the
    filing (its entity id and `after["number"]` set as it is written). `day`: the local day that numbers it."""

    incident: Incident
    report: Report
    day: str
    audit: AuditRow
    attachments: list[Attachment] = field(default_factory=list)
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[tuple[Alert, list[AlertPart]]] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        from storage.filing.numbers import incident_prefix

        return incident_prefix(self.day)


def link(plan: FilingPlan) -> None:
    """Set the ids the plan's rows refer to, once the incident, the report and the alerts have theirs."""
    incident, report = plan.incident, plan.report
    report.incident_id = incident.id
    for attachment in plan.attachments:
        attachment.report_id = report.id
    for row in plan.deadlines:
        row["incident_id"] = incident.id
        if row["state"] == "met":
            row["report_id"] = report.id
    for alert, parts in plan.alerts:
        alert.incident_id, alert.report_id = incident.id, report.id
        for part in parts:
            part.alert_id = alert.id
