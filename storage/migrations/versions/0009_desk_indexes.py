"""the daily summary's record of days sent; indexes for the duty desk's queries at scale (the ledger,
statistics and exports by day received, open incidents and their next deadline, an incident's audit trail)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
INDEXES = (
    ("reports", "ix_reports_received_at", ["received_at"]),
    ("audit_log", "ix_audit_entity", ["entity", "entity_id"]),
    ("alerts", "ix_alerts_report_id", ["report_id"]),
    ("deadlines", "ix_deadlines_state_incident", ["state", "incident_id", "due_at"]),
    ("deadlines", "ix_deadlines_state_due", ["state", "due_at"]),
    ("incidents", "ix_incidents_status_unit", ["status", "unit_id"]),
)


def upgrade() -> None:
    op.create_table(
        "daily_summaries",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("groups", sa.Integer(), nullable=False),
        sa.Column("sent_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("daily_summaries")
