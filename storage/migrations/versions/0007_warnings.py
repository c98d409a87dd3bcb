"""early warnings: one row per message (issue, adjustment, lift), one delivery row per recipient, and the
lease that lets one sender at a time deliver them

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("root_id", sa.Integer(), nullable=True),
        sa.Column("refers_id", sa.Integer(), nullable=True),
        sa.Column("msg_type", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("onset_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("targets", JSON, nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("draft_token", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("cap_ref", sa.String(length=500), nullable=True),
        sa.Column("approver_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("reject_reason", sa.String(length=500), nullable=True),
        sa.Column("published_at", TS, nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("progress_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("progress_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["root_id"], ["warnings.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["refers_id"], ["warnings.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["approver_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("author_id", "draft_token", name="uq_warning_author_draft"),
    )
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warnings_root_id"), ["root_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_warnings_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_warnings_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "warning_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("warning_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", TS, nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("received_at", TS, nullable=True),
        sa.Column("received_by", sa.BigInteger(), nullable=True),
        sa.Column("remind_at", TS, nullable=True),
        sa.Column("remind_steps", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["warning_id"], ["warnings.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("warning_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warning_deliveries_chat_id"), ["chat_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_warning_deliveries_remind_at"), ["remind_at"], unique=False)
        batch_op.create_index("ix_warning_deliveries_queue", ["state", "rank", "warning_id", "id"], unique=False)
        batch_op.create_index("ix_warning_deliveries_warning_state", ["warning_id", "state"], unique=False)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    with op.batch_alter_table("warning_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_warning_deliveries_warning_state")
        batch_op.drop_index("ix_warning_deliveries_queue")
        batch_op.drop_index(batch_op.f("ix_warning_deliveries_remind_at"))
        batch_op.drop_index(batch_op.f("ix_warning_deliveries_chat_id"))
    op.drop_table("warning_deliveries")
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warnings_expires_at"))
        batch_op.drop_index(batch_op.f("ix_warnings_state"))
        batch_op.drop_index(batch_op.f("ix_warnings_root_id"))
    op.drop_table("warnings")
