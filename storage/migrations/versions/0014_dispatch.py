"""联动 dispatch: linked units, dispatch orders and each unit's part in one (with its clock)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

Old workers can run beside this one (new tables only; nobody but the new code reads them).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "linked_units",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.UniqueConstraint("unit_id"),
    )
    op.create_table(
        "dispatch_orders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("dispatcher_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("meeting_point", sa.String(length=500), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("board_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("board_message_id", sa.BigInteger(), nullable=True),
        sa.Column("board_due_at", WHEN, nullable=True),
        sa.Column("draft_token", sa.String(length=32), nullable=True),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("dispatcher_id", "draft_token"),
    )
    op.create_index("ix_dispatch_orders_incident_id", "dispatch_orders", ["incident_id"])
    op.create_index("ix_dispatch_orders_board_due_at", "dispatch_orders", ["board_due_at"])
    op.create_table(
        "dispatch_parts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("dispatch_orders.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "linked_unit_id", sa.Integer(), sa.ForeignKey("linked_units.id", ondelete="RESTRICT"), nullable=False
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("dispatched_at", WHEN, nullable=False),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("accepted_at", WHEN, nullable=True),
        sa.Column("declined_at", WHEN, nullable=True),
        sa.Column("decline_reason", sa.String(length=500), nullable=True),
        sa.Column("departed_at", WHEN, nullable=True),
        sa.Column("arrived_at", WHEN, nullable=True),
        sa.Column("arrival_latitude", sa.Double(), nullable=True),
        sa.Column("arrival_longitude", sa.Double(), nullable=True),
        sa.Column("distance_m", sa.Double(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("scene_report", JSON, nullable=True),
        sa.Column("scene_reported_at", WHEN, nullable=True),
        sa.Column("feedback", JSON, nullable=True),
        sa.Column("done_at", WHEN, nullable=True),
        sa.Column("withdrawn_at", WHEN, nullable=True),
        sa.Column("last_actor_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("resends", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_at", WHEN, nullable=True),
        sa.Column("done_until", WHEN, nullable=True),
        sa.UniqueConstraint("order_id", "linked_unit_id"),
    )
    op.create_index("ix_dispatch_parts_order_id", "dispatch_parts", ["order_id"])
    op.create_index("ix_dispatch_parts_linked_unit_id", "dispatch_parts", ["linked_unit_id"])
    op.create_index("ix_dispatch_parts_next_at", "dispatch_parts", ["next_at"])


def downgrade() -> None:
    op.drop_table("dispatch_parts")
    op.drop_table("dispatch_orders")
    op.drop_table("linked_units")
