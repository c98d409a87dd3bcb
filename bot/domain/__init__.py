"""The pure core: domain rules as data and pure functions (no aiogram, no SQLAlchemy)."""
