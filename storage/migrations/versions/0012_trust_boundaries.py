"""trust boundaries: a warning's issuing unit, the inbox's attempts and quarantine, the audit log refuses TRUNCATE

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_warnings_unit_id", "units", ["unit_id"], ["id"], ondelete="RESTRICT")
        batch_op.create_index("ix_warnings_unit_id", ["unit_id"], unique=False)
    # a warning belongs to the unit its first author published for (an adjustment or a lift to its chain's)
    op.execute("UPDATE warnings SET unit_id = (SELECT users.unit_id FROM users WHERE users.id = warnings.author_id)")
    op.execute(
        "UPDATE warnings SET unit_id = (SELECT root.unit_id FROM warnings AS root WHERE root.id = warnings.root_id) "
        "WHERE root_id IS NOT NULL"
    )
    with op.batch_alter_table("update_inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("error", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("released_at", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name != "sqlite":  # (SQLite has no TRUNCATE; its DELETE trigger: migration 0001)
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    with op.batch_alter_table("update_inbox", schema=None) as batch_op:
        batch_op.drop_column("released_at")
        batch_op.drop_column("error")
        batch_op.drop_column("quarantined_at")
        batch_op.drop_column("attempts")
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.drop_index("ix_warnings_unit_id")
        batch_op.drop_constraint("fk_warnings_unit_id", type_="foreignkey")
        batch_op.drop_column("unit_id")
