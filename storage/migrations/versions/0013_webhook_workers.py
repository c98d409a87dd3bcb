"""webhook workers: an inbox row's sender and lease (workers take one person's updates in order), the outbox's lease

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

Old workers can run beside this one (the new columns are nullable and nobody reads them but the new code).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("update_inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("leased_by", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_update_inbox_waiting",
        "update_inbox",
        ["bot_id", "sender_id", "update_id"],
        postgresql_where=sa.text("handled_at IS NULL"),
        sqlite_where=sa.text("handled_at IS NULL"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("leased_until")
    op.drop_index("ix_update_inbox_waiting", table_name="update_inbox")
    with op.batch_alter_table("update_inbox", schema=None) as batch_op:
        batch_op.drop_column("leased_by")
        batch_op.drop_column("leased_until")
        batch_op.drop_column("sender_id")
