"""people_version: one counter that every change to users or their roles advances (database triggers, so a
change by the CLI, another process or a hand-written statement counts too); a process's cache of the people
behind Telegram accounts is valid while the counter it was filled at is the current one

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("users", "user_roles")
VERBS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "people_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO people_version (id, value) VALUES (1, 1)")
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in VERBS:
                op.execute(
                    f"CREATE TRIGGER {table}_{verb.lower()}_people_version AFTER {verb} ON {table} "
                    "BEGIN UPDATE people_version SET value = value + 1 WHERE id = 1; END"
                )
    else:
        op.execute(
            "CREATE FUNCTION people_version_advance() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN UPDATE people_version SET value = value + 1 WHERE id = 1; RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_people_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION people_version_advance()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in VERBS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{verb.lower()}_people_version")
    else:
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_people_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS people_version_advance()")
    op.drop_table("people_version")
