"""Use cases: one function per thing a user or an operator does, over repositories."""
