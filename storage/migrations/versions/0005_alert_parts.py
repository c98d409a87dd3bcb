"""alert deliveries in parts (the text, then each attachment message or album), each tracked; where the
reporter's receipt is, so it can say what became of the alerts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "position", name="uq_alert_part_position"),
    )
    with op.batch_alter_table("alert_parts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_parts_alert_id"), ["alert_id"], unique=False)
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receipt_chat_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("receipt_message_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("receipt_locale", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("receipt_locale")
        batch_op.drop_column("receipt_message_id")
        batch_op.drop_column("receipt_chat_id")
    with op.batch_alter_table("alert_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_parts_alert_id"))
    op.drop_table("alert_parts")
