"""statutory clocks as rows: deadlines (what is due, from whom, by when, what became of it, and when the
scheduler acts on it next); timeliness of each report; acknowledgement escalation of alerts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deadlines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("due", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("start_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("met_at", TS, nullable=True),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("next_at", TS, nullable=True),
        sa.Column("done_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["reporter_id"], ["users.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deadlines_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deadlines_reporter_id"), ["reporter_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deadlines_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_deadlines_next_at"), ["next_at"], unique=False)
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", TS, nullable=True))
        batch_op.add_column(
            sa.Column("unknown", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)
        )
        batch_op.add_column(sa.Column("incomplete", sa.Boolean(), server_default="0", nullable=False))
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handled_at", TS, nullable=True))
        batch_op.add_column(sa.Column("closed_at", TS, nullable=True))
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ack_due_at", TS, nullable=True))
        batch_op.add_column(sa.Column("ack_steps", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(batch_op.f("ix_alerts_ack_due_at"), ["ack_due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_ack_due_at"))
        batch_op.drop_column("ack_steps")
        batch_op.drop_column("ack_due_at")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("closed_at")
        batch_op.drop_column("handled_at")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("incomplete")
        batch_op.drop_column("unknown")
        batch_op.drop_column("due_at")
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadlines_next_at"))
        batch_op.drop_index(batch_op.f("ix_deadlines_due_at"))
        batch_op.drop_index(batch_op.f("ix_deadlines_reporter_id"))
        batch_op.drop_index(batch_op.f("ix_deadlines_incident_id"))
    op.drop_table("deadlines")
