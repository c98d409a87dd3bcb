"""people_version advances on every change to units and duty groups too: a process keeps each unit with its duty
groups (what filing alerts) in the same cache as the people, valid while the counter is the one it was filled at

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = ("units", "duty_groups")
VERBS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in VERBS:
                op.execute(
                    f"CREATE TRIGGER {table}_{verb.lower()}_people_version AFTER {verb} ON {table} "
                    "BEGIN UPDATE people_version SET value = value + 1 WHERE id = 1; END"
                )
    else:
        for table in TABLES:  # (people_version_advance(): migration 0010)
            op.execute(
                f"CREATE TRIGGER {table}_people_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION people_version_advance()"
            )


def downgrade() -> None:
    for table in TABLES:
        if op.get_bind().dialect.name == "sqlite":
            for verb in VERBS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{verb.lower()}_people_version")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_people_version ON {table}")
