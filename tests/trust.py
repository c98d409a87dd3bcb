"""A unit tree for the trust-boundary tests: a province with two cities, the first city with a county below it; in
every unit an administrator, a publisher, a duty officer and leader, a reporter and a second publisher; each unit's
duty group bound. The target of most tests is the city: its parent is the province, its sibling the second city, its
child the county."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from bot.domain.clock import utcnow
from bot.usecases.common import Config
from bot.usecases.onboarding import add_unit, add_user, bind_group
from bot.usecases.reports import submit_initial_report
from bot.usecases.warnings import WarningFiled, submit_warning
from storage.models import Incident
from tests.broadcasting import answers
from tests.conftest import Harness

UNITS = {"prov": ("省应急管理厅", None), "city": ("市应急管理局", "prov"), "city2": ("邻市应急管理局", "prov"),
         "county": ("县应急管理局", "city")}  # fmt: skip
BASE = {"prov": 100, "city": 200, "city2": 300, "county": 400}
ADMIN, PUBLISHER, DUTY, REPORTER, PUBLISHER2 = 1, 2, 3, 4, 5
ROLES = {ADMIN: ["admin"], PUBLISHER: ["publisher"], DUTY: ["duty_officer", "duty_leader"], REPORTER: ["reporter"],
         PUBLISHER2: ["publisher"]}  # fmt: skip
GROUP = {"prov": -100100, "city": -100200, "city2": -100300, "county": -100400}
STRANGER = 999
# who acts, seen from the city: the city itself, its parent, its sibling, its child, a stranger
CASES = ("own", "parent", "sibling", "child", "stranger")
UNIT_OF = {"own": "city", "parent": "prov", "sibling": "city2", "child": "county"}
# what a "unit and below" row of the table allows, seen from the city
SUBTREE_ALLOWS = {"own": True, "parent": True, "sibling": False, "child": False, "stranger": False}


def person(case: str, role: int) -> int:
    """The Telegram id of the person with `role` in the unit of `case` (the stranger: nobody the bot knows)."""
    return STRANGER if case == "stranger" else BASE[UNIT_OF[case]] + role


async def seed_tree(h: Harness) -> dict[str, int]:
    """The tree, its people and its duty groups; returns the units' ids by code."""
    ids = {}
    async with h.repos() as r:
        for code, (name, parent) in UNITS.items():
            unit = await add_unit(r, "test", code, name, parent)
            ids[code] = unit.id
            for role, names in ROLES.items():
                await add_user(
                    r,
                    "test",
                    BASE[code] + role,
                    f"{name[:2]}{names[0][:4]}{role}",
                    code,
                    names,
                    f"1380000{BASE[code] + role:04d}",
                )
            await bind_group(r, "test", GROUP[code], unit, f"{name}值班群", None)
    return ids


def config(h: Harness) -> Config:
    return h.app.dp["update_context"].config  # type: ignore[no-any-return]


async def city_warning(h: Harness, unit_id: int, level: str = "blue") -> WarningFiled:
    """A warning of the city's publisher to the city and the units below it (a red one waits for approval)."""
    async with h.repos() as r:
        user = await r.users.by_telegram_id(BASE["city"] + PUBLISHER)
        assert user is not None
        draft = {"token": secrets.token_hex(8), "answers": answers(unit_id, level)}
        return await submit_warning(r, user, draft, {}, config(h))


async def city_incident(h: Harness) -> Incident:
    """An initial report of the city's reporter, filed through the use case; its alerts delivered to the groups."""
    now = utcnow()
    report = {
        "occurred_at": (now - timedelta(minutes=20)).isoformat(),
        "place": {"text": "城区河堤"},
        "source": ["现场人员"],
        "category": "accident",
        "subtype": "traffic",
        "description": "货车与大巴相撞",
        "casualties": {"deaths": 3, "injured": 5},
        "measures": "已封闭道路",
        "contact": "13800000000",
    }
    draft: dict[str, Any] = {"token": secrets.token_hex(8), "answers": report, "started_at": now.isoformat()}
    async with h.repos() as r:
        user = await r.users.by_telegram_id(BASE["city"] + REPORTER)
        assert user is not None
        filed = await submit_initial_report(r, user, draft, {"grade": {"suggested": "III", "grade": "III"}}, config(h))
        incident = await r.incidents.by_number(filed.number)
        assert incident is not None
    await h.app.redeliver_alerts(everything=True)
    return incident
