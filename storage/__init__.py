"""Persistence: SQLAlchemy 2 models, repositories (which never commit), unit of work, migrations."""
