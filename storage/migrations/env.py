"""Alembic environment: migrations run on a connection handed in by storage.db.migrate."""

from alembic import context

from storage.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `python -m bot migrate`")
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
