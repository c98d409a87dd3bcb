"""The bot keeps the people behind Telegram accounts in a per-process cache (storage.people). A change made
anywhere else (the CLI in its own process, another engine, a statement typed by hand) is seen by the very
next update: database triggers advance a counter that every update reads with the sender's state."""

from __future__ import annotations

from sqlalchemy import text

from storage.db import create_engine
from tests.conftest import Harness
from tests.subproc import bot_env, cli


async def test_a_role_changed_by_the_cli_is_seen_by_the_next_update(harness: Harness, db_url: str) -> None:
    await harness.seed()
    api = harness.api
    await api.send_text(1002, "/help")
    before = (await api.next_in(1002, 0)).text
    assert "/report" in before and "/warn " not in before  # a reporter (now in the bot's cache)

    args = ("admin", "set-role", "--telegram-id", "1002", "--role", "publisher")
    code, out, err = await cli(bot_env(api, db_url), *args)
    assert code == 0, out + err

    await api.send_text(1002, "/help")
    after = (await api.next_in(1002, 1)).text
    assert "/warn" in after and "/report" not in after
    await api.send_text(1002, "/report")
    assert "角色" in (await api.next_in(1002, 2)).text  # refused: a publisher does not file reports


async def test_a_person_switched_off_by_hand_is_refused_at_once(harness: Harness, db_url: str) -> None:
    await harness.seed()
    api = harness.api
    await api.send_text(1002, "/report")
    assert (await api.next_in(1002, 0)).reply_markup  # the form's first screen (the person is now cached)

    other = create_engine(db_url)  # another process's connection, a statement nobody's code wrote
    try:
        async with other.begin() as conn:
            await conn.execute(text("UPDATE users SET active = false WHERE telegram_id = 1002"))
    finally:
        await other.dispose()

    await api.send_text(1002, "/help")
    assert "邀请链接" in (await api.next_in(1002, 1)).text  # answered as someone not registered


async def test_a_duty_group_bound_by_the_cli_gets_the_next_report_s_alert(harness: Harness, db_url: str) -> None:
    """The bot keeps each unit with its duty groups in the same cache (what filing alerts): binding a group from
    the CLI is seen by the next report."""
    from tests.http.test_report_http import fill_until_review
    from tests.reporting import Reporter

    await harness.seed()
    api = harness.api
    r = Reporter(api, 1002)
    await fill_until_review(r, casualties="死亡3 受伤5")  # grade III: the county's group and the city's
    assert "初报已提交" in await r.tap("提交")
    await api.wait_for(lambda: [s for s in api.in_chat(-100200) if "突发事件初报" in s.text], 10)
    assert not api.in_chat(-100300)  # the county has no group of its own yet (the unit is now in the cache)

    args = ("admin", "bind-group", "--chat-id", "-100300", "--unit", "county")
    code, out, err = await cli(bot_env(api, db_url), *args)
    assert code == 0, out + err

    await fill_until_review(r, casualties="死亡3 受伤5")
    assert "初报已提交" in await r.tap("提交")
    await api.wait_for(lambda: [s for s in api.in_chat(-100300) if "突发事件初报" in s.text], 10)
    assert len([s for s in api.in_chat(-100200) if "突发事件初报" in s.text]) == 2


async def test_a_change_to_units_or_duty_groups_advances_the_people_counter(harness: Harness) -> None:
    from storage.update import update_transaction

    await harness.seed()
    versions = []
    for statement in (
        "UPDATE units SET name = '县应急管理局（新）' WHERE code = 'county'",
        "INSERT INTO duty_groups (chat_id, unit_id, bound_at) "
        "SELECT -100400, id, CURRENT_TIMESTAMP FROM units WHERE code = 'other'",
        "UPDATE duty_groups SET title = '邻县值班群' WHERE chat_id = -100400",
        "DELETE FROM duty_groups WHERE chat_id = -100400",
    ):
        async with update_transaction(harness.app.sessionmaker) as tx:
            versions.append((await tx.begin(None, None)).people_version)
        async with harness.repos() as repos:
            await repos.session.execute(text(statement))
    async with update_transaction(harness.app.sessionmaker) as tx:
        versions.append((await tx.begin(None, None)).people_version)
    assert versions == sorted(set(versions))  # each change advanced it
