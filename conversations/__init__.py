"""Forms as data, and the one engine that walks any form (pure: no aiogram, no SQLAlchemy)."""
