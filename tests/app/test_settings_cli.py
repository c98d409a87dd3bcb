"""Settings validation and the admin CLI (exit codes and messages)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.app.cli import main
from bot.app.settings import SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings({"bot_token": None}, environ={}, env_file=None)
    assert s.database_url == "sqlite+aiosqlite:///./kuaibao.db"
    assert s.bot_api_base == "https://api.telegram.org"
    assert s.timezone == "Asia/Shanghai" and s.default_locale == "zh_Hans"


@pytest.mark.parametrize(
    ("key", "value", "name"),
    [
        ("timezone", "Mars/Olympus", "TIMEZONE"),
        ("default_locale", "fr", "DEFAULT_LOCALE"),
        ("log_level", "LOUD", "LOG_LEVEL"),
        ("database_url", "mysql://x", "DATABASE_URL"),
        ("bot_api_base", "not a url", "BOT_API_BASE"),
        ("bot_token", "abc", "BOT_TOKEN"),
        ("webhook_url", "bot.example.org/hook", "WEBHOOK_URL"),
        ("webhook_secret", "has spaces and ü", "WEBHOOK_SECRET"),
        ("webhook_listen", "8081", "WEBHOOK_LISTEN"),
    ],
)
def test_invalid_setting_is_named(key: str, value: str, name: str) -> None:
    with pytest.raises(SettingsError, match=f"invalid setting {name}"):
        load_settings({key: value}, environ={}, env_file=None)


def test_environment_and_env_file_are_read_only_as_given(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TIMEZONE=Asia/Urumqi\nLOG_LEVEL=debug\n", encoding="utf-8")
    s = load_settings({}, environ={"LOG_LEVEL": "warning", "UNRELATED": "x"}, env_file=env_file)
    assert (s.timezone, s.log_level) == ("Asia/Urumqi", "WARNING")  # the environment beats the file
    s = load_settings({"log_level": "error"}, environ={"LOG_LEVEL": "warning"}, env_file=None)
    assert s.log_level == "ERROR" and s.timezone == "Asia/Shanghai"  # explicit values beat both
    assert load_settings({}, environ={}, env_file=None).bot_token is None


def test_a_deployment_clock_table_is_checked_at_start(tmp_path: Path) -> None:
    table = tmp_path / "clocks.toml"
    shipped = (Path(__file__).resolve().parents[2] / "bot" / "domain" / "data" / "clocks.toml").read_text("utf-8")
    table.write_text(shipped.replace('after = "2h"', 'after = "90m"'), encoding="utf-8")
    s = load_settings({"clock_policy_file": str(table)}, environ={}, env_file=None)
    assert s.policy().rule("initial").after.total_seconds() == 90 * 60
    table.write_text(shipped.replace('after = "72h"', 'after = "soon"'), encoding="utf-8")
    with pytest.raises(
        SettingsError, match=r"CLOCK_POLICY_FILE: .*rule 5 \(first_followup\): 'soon' is not a duration"
    ):
        load_settings({"clock_policy_file": str(table)}, environ={}, env_file=None)
    with pytest.raises(SettingsError, match=r"CLOCK_POLICY_FILE: .* is not a file"):
        load_settings({"clock_policy_file": str(tmp_path / "missing.toml")}, environ={}, env_file=None)


def test_a_deployments_dispatch_policy_is_checked_at_start(tmp_path: Path) -> None:
    policy = tmp_path / "dispatch.toml"
    shipped = (Path(__file__).resolve().parents[2] / "bot" / "domain" / "data" / "dispatch.toml").read_text("utf-8")
    policy.write_text(shipped.replace('first = "30m"', 'first = "25m"'), encoding="utf-8")
    s = load_settings({"dispatch_policy_file": str(policy)}, environ={}, env_file=None)
    assert s.dispatch_policy().tiers["first"].total_seconds() == 25 * 60
    policy.write_text(shipped.replace("arrival_radius_m = 500", "arrival_radius_m = 5"), encoding="utf-8")
    with pytest.raises(SettingsError, match=r"DISPATCH_POLICY_FILE: .*arrival_radius_m"):
        load_settings({"dispatch_policy_file": str(policy)}, environ={}, env_file=None)


def test_token_is_never_shown() -> None:
    s = load_settings({"bot_token": "123456:" + "A" * 30}, environ={}, env_file=None)
    assert "AAAA" not in repr(s) and "AAAA" not in str(s.bot_token)


def test_run_without_token_exits_2_saying_how_to_get_one_and_how_to_try_it_without(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3 and "@BotFather" in lines[0] and "BOT_TOKEN" in lines[1]
    assert "python -m bot sandbox" in lines[2]  # no token, no Telegram: the sandbox


def test_serve_without_its_url_and_secret_exits_2_saying_what_to_set(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BOT_TOKEN": "123456:" + "A" * 30}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "WEBHOOK_URL" in proc.stderr and "WEBHOOK_SECRET" in proc.stderr and "A" * 30 not in proc.stderr


def test_invalid_setting_stops_start_naming_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TIMEZONE": "Nowhere/City"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "TIMEZONE" in proc.stderr


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", "BOT_USERNAME": "kb_bot", "BOT_TOKEN": ""}

    def invoke(*args: str):
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def test_admin_commands_and_their_errors(cli) -> None:
    assert cli("admin", "add-unit", "--code", "city", "--name", "市局").exit_code == 0
    r = cli("admin", "add-unit", "--code", "county", "--name", "县局", "--parent", "city")
    assert r.exit_code == 0, r.output
    r = cli("admin", "add-unit", "--code", "x", "--name", "X", "--parent", "nosuch")
    assert r.exit_code == 1 and "unknown parent unit 'nosuch'" in r.output
    r = cli("admin", "add-user", "--telegram-id", "5", "--name", "甲", "--unit", "county", "--role", "reporter")
    assert r.exit_code == 0
    r = cli("admin", "add-user", "--telegram-id", "5", "--name", "甲", "--unit", "county", "--role", "reporter")
    assert r.exit_code == 1 and "already exists" in r.output
    r = cli("admin", "add-user", "--telegram-id", "6", "--name", "乙", "--unit", "nosuch", "--role", "reporter")
    assert r.exit_code == 1 and "unknown unit" in r.output
    r = cli("admin", "add-user", "--telegram-id", "6", "--name", "乙", "--unit", "city", "--role", "chief")
    assert r.exit_code == 1 and "unknown role 'chief'" in r.output
    r = cli("admin", "add-user", "--telegram-id", "abc", "--name", "乙", "--unit", "city", "--role", "admin")
    assert r.exit_code == 2
    r = cli("admin", "set-role", "--telegram-id", "5", "--role", "duty_officer", "--role", "duty_leader")
    assert r.exit_code == 0 and "duty_leader, duty_officer" in r.output
    r = cli("admin", "list-users")
    assert "5\t甲\tcounty\tduty_leader,duty_officer" in r.output
    r = cli("admin", "invite", "--unit", "county", "--role", "reporter", "--expires", "12h")
    assert r.exit_code == 0 and r.output.startswith("https://t.me/kb_bot?start=")
    r = cli("admin", "invite", "--unit", "county", "--role", "reporter", "--expires", "soon")
    assert r.exit_code == 2 and "--expires" in r.output
    r = cli("admin", "bind-group", "--chat-id", "-1001", "--unit", "city")
    assert r.exit_code == 0
    r = cli("admin", "bind-group", "--chat-id", "1001", "--unit", "city")
    assert r.exit_code == 2 and "negative" in r.output
    assert "revision" in cli("migrate").output


def test_people_leave_and_invites_are_revoked_from_the_cli(cli) -> None:
    assert cli("admin", "add-unit", "--code", "city", "--name", "市局").exit_code == 0
    assert (
        cli("admin", "add-user", "--telegram-id", "5", "--name", "甲", "--unit", "city", "--role", "reporter").exit_code
        == 0
    )
    r = cli("admin", "deactivate", "--telegram-id", "5")
    assert r.exit_code == 0 and "deactivated" in r.output
    assert "5\t甲\tcity\treporter\t-\tinactive" in cli("admin", "list-users").output
    r = cli("admin", "deactivate", "--telegram-id", "5")
    assert r.exit_code == 1 and "already" in r.output
    r = cli("admin", "deactivate", "--telegram-id", "77")
    assert r.exit_code == 1 and "unknown user 77" in r.output
    assert "active again" in cli("admin", "reactivate", "--telegram-id", "5").output
    link = cli("admin", "invite", "--unit", "city", "--role", "reporter").output.splitlines()[0].strip()
    r = cli("admin", "revoke-invite", "--code", link)  # the whole link, or the code
    assert r.exit_code == 0 and "revoked" in r.output
    r = cli("admin", "revoke-invite", "--code", link.rsplit("=", 1)[1])  # (a code may start with "-")
    assert r.exit_code == 1 and "used or has expired" in r.output
    r = cli("admin", "quarantine", "list")
    assert r.exit_code == 2 and "BOT_TOKEN" in r.output
