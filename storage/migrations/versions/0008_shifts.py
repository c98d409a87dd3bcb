"""the duty roster: one row per shift of a unit, with its leaders and officers; shift handovers

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("leaders", JSON, nullable=False),
        sa.Column("officers", JSON, nullable=False),
        sa.Column("notify_at", TS, nullable=True),
        sa.Column("check_at", TS, nullable=True),
        sa.Column("imported_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_id", "kind", "starts_at", name="uq_shift_unit_kind_start"),
    )
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shifts_notify_at"), ["notify_at"], unique=False)
        batch_op.create_index("ix_shifts_unit_time", ["unit_id", "starts_at", "ends_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_shifts_check_at"), ["check_at"], unique=False)
    op.create_table(
        "handovers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("shift_id", sa.Integer(), nullable=True),
        sa.Column("from_user_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("accepted_by", sa.Integer(), nullable=True),
        sa.Column("accepted_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["shift_id"], ["shifts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["from_user_id"], ["users.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["accepted_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handovers_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_handovers_shift_id"), ["shift_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handovers_shift_id"))
        batch_op.drop_index(batch_op.f("ix_handovers_unit_id"))
    op.drop_table("handovers")
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shifts_check_at"))
        batch_op.drop_index("ix_shifts_unit_time")
        batch_op.drop_index(batch_op.f("ix_shifts_notify_at"))
    op.drop_table("shifts")
