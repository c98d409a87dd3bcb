"""aiogram routers: thin adapters from updates to use cases."""

from aiogram import Router

from handlers import alerts, common, desk, dispatch, forms, groups, onboarding, people, roster, stats, warnings


def setup() -> Router:
    """Build the root router; order matters: onboarding and the gate come before everything else (the forms' fast
    lane only takes what nothing before the forms would)."""
    root = Router(name="root")
    root.include_routers(
        forms.setup_fast(),
        dispatch.setup(),  # (before onboarding: a live location's edits, while an arrival waits for it)
        onboarding.setup(),
        groups.setup(),
        warnings.setup(),
        forms.setup(),
        alerts.setup(),
        desk.setup(),
        roster.setup(),
        stats.setup(),
        people.setup(),
        common.setup(),
        onboarding.setup_fallback(),
    )
    return root
