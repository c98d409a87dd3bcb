"""Deployment settings, read from the environment and an optional `.env` file."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain.clocks import Policy, PolicyError, load_policy, parse_policy
from bot.domain.dispatch import DispatchPolicy, DispatchPolicyError
from bot.domain.dispatch import load_policy as load_dispatch_policy
from bot.domain.locales import SUPPORTED_LOCALES
from bot.domain.roster import TableLimits
from bot.domain.warnings import RANK, WarningPolicy

PUBLIC_BOT_API = "https://api.telegram.org"
DEFAULT_LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,200}$")


class Settings(BaseSettings):
    """Every setting of a deployment; docs/settings.md documents each one (tests/project/test_docs.py holds it so)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = Field(default=None, description="Token from @BotFather")
    bot_api_base: str = Field(default=PUBLIC_BOT_API, description="Bot API server base URL")
    bot_username: str | None = Field(default=None, description="Bot username for invite links")
    database_url: str = Field(default="sqlite+aiosqlite:///./kuaibao.db")
    redis_url: str | None = Field(default=None, description="Redis for cross-process event isolation")
    timezone: str = Field(default="Asia/Shanghai")
    default_locale: str = Field(default="zh_Hans")
    log_level: str = Field(default="INFO")
    locales_dir: Path = Field(default=DEFAULT_LOCALES_DIR)
    polling_timeout: int = Field(default=30, ge=0, le=50)
    # At most this many updates at work at once (each holding its sender's turn); more wait at Telegram.
    updates_in_flight: int = Field(default=64, ge=1, le=1000)
    draft_ttl_days: int = Field(default=7, ge=1, le=365)
    # What Telegram allows (domain rules §7), kept by the limiter before Telegram has to say 429.
    send_overall_per_second: float = Field(default=30.0, gt=0, le=1000)
    send_chat_per_second: float = Field(default=1.0, gt=0, le=100)
    send_chat_burst: int = Field(default=3, ge=1, le=100)
    send_group_messages: int = Field(default=20, ge=1, le=1000)
    send_group_period: float = Field(default=60.0, gt=0, le=3600)
    # The longest a message waits on 429s before it is left stored for the retry job.
    send_max_wait: float = Field(default=300.0, ge=0, le=86400)
    # Early warnings (domain rules §5): the levels a second publisher must approve (issuing and adjusting),
    # when an unconfirmed recipient is reminded and when their unit's duty leader is told.
    warning_approval_levels: str = Field(default="red,orange")
    warning_remind_minutes: int = Field(default=30, ge=1, le=10080)
    warning_escalate_minutes: int = Field(default=60, ge=1, le=10080)
    # A bot with Telegram's paid broadcasts: warnings may go out at send_paid_per_second (Telegram: 1000).
    allow_paid_broadcast: bool = Field(default=False)
    send_paid_per_second: float = Field(default=1000.0, gt=0, le=1000)
    # The warning sender's lease: another process takes over this long after the holder died.
    broadcast_lease_seconds: float = Field(default=15.0, ge=1, le=300)
    cap_sender: str = Field(default="kuaibao@localhost", description="CAP <sender>: this office's identifier")
    # A deployment's own clock table (TOML, like bot/domain/data/clocks.toml); unset: the shipped one.
    clock_policy_file: Path | None = Field(default=None)
    # A deployment's own 联动 dispatch policy (TOML, like bot/domain/data/dispatch.toml: tiers, clocks, radius, kinds).
    dispatch_policy_file: Path | None = Field(default=None)
    # The daily summary (值班日报) posted to each duty group at this local time (HH:MM); "off" to send none.
    daily_summary_at: str = Field(default="08:00")
    # What an uploaded roster file may hold (bounded while it is read; every refusal names its limit).
    roster_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    roster_max_rows: int = Field(default=20_000, ge=10, le=200_000)
    roster_max_columns: int = Field(default=16, ge=7, le=1000)
    roster_max_cell_chars: int = Field(default=500, ge=20, le=10_000)
    roster_max_unzipped: int = Field(default=8 * 1024 * 1024, ge=64 * 1024, le=100 * 1024 * 1024)
    # A stored update whose run was cut off (a crash) this many times is set aside instead of run again.
    update_max_attempts: int = Field(default=3, ge=1, le=100)
    # Webhook mode (`python -m bot serve`): the public HTTPS URL Telegram posts to (its path is served), the secret
    # Telegram sends with each update (1-256 of A-Z a-z 0-9 _ -), where this worker listens (behind the TLS proxy),
    # how many connections Telegram may open at once, and how long a worker holds an update it took or an answer it
    # is sending without renewing the lease (every third of it).
    webhook_url: str | None = Field(default=None)
    webhook_secret: SecretStr | None = Field(default=None)
    webhook_listen: str = Field(default="127.0.0.1:8081")
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    webhook_lease_seconds: float = Field(default=30.0, ge=5, le=3600)
    # `python -m bot sandbox`: where its page listens (127.0.0.1 only) and its own database file
    sandbox_port: int = Field(default=8080, ge=1, le=65535)
    sandbox_database: Path = Field(default=Path("./sandbox.db"))

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not _TOKEN_RE.match(value.get_secret_value().strip()):
            raise ValueError("does not look like a Bot API token (expected 123456789:AA...)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError("must be the public https URL Telegram posts to, e.g. https://bot.example.org/tg")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not re.match(r"^[A-Za-z0-9_-]{1,256}$", value.get_secret_value()):
            raise ValueError("1 to 256 characters of A-Z, a-z, 0-9, _ and - (what Telegram accepts)")
        return value

    @field_validator("webhook_listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:8081 or 0.0.0.0:8081")
        return value

    def secrets(self) -> tuple[str, ...]:
        """What no log line may show (the redacting formatter, bot.app.logs)."""
        return tuple(s.get_secret_value() for s in (self.bot_token, self.webhook_secret) if s is not None)

    def webhook_path(self) -> str:
        """The path of WEBHOOK_URL, which this worker serves ("/" when it has none)."""
        from urllib.parse import urlsplit

        return urlsplit(self.webhook_url or "").path or "/"

    @field_validator("bot_api_base")
    @classmethod
    def _check_base(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if not value:
            return None
        if importlib.util.find_spec("redis") is None:
            raise ValueError("needs the Redis client: pip install 'kuaibao[redis]' (or leave REDIS_URL unset)")
        return value

    @field_validator("clock_policy_file")
    @classmethod
    def _check_policy(cls, value: Path | None) -> Path | None:
        if value is None or not str(value).strip():
            return None
        if not value.is_file():
            raise ValueError(f"{value} is not a file")
        try:
            parse_policy(value.read_text(encoding="utf-8"))
        except (PolicyError, UnicodeDecodeError) as exc:
            raise ValueError(f"{value}: {exc}") from None
        return value

    @field_validator("dispatch_policy_file")
    @classmethod
    def _check_dispatch_policy(cls, value: Path | None) -> Path | None:
        if value is None or not str(value).strip():
            return None
        if not value.is_file():
            raise ValueError(f"{value} is not a file")
        try:
            load_dispatch_policy(value)
        except DispatchPolicyError as exc:
            raise ValueError(str(exc)) from None
        return value

    def dispatch_policy(self) -> DispatchPolicy:
        """The dispatch tiers and clocks this deployment keeps."""
        return load_dispatch_policy(self.dispatch_policy_file) if self.dispatch_policy_file else load_dispatch_policy()

    @field_validator("warning_approval_levels")
    @classmethod
    def _check_levels(cls, value: str) -> str:
        levels = [x.strip().lower() for x in value.split(",") if x.strip()]
        unknown = [x for x in levels if x not in RANK]
        if unknown:
            raise ValueError(f"unknown level {unknown[0]!r} (use red, orange, yellow, blue, comma-separated)")
        return ",".join(levels)

    @field_validator("daily_summary_at")
    @classmethod
    def _check_summary_at(cls, value: str) -> str:
        value = value.strip().lower()
        if value in ("", "off", "none", "no"):
            return "off"
        if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value):
            raise ValueError("must be a local time HH:MM (e.g. 08:00), or off")
        return value

    def summary_time(self) -> time | None:
        """When the daily summary is posted (local time), or None when it is off."""
        if self.daily_summary_at == "off":
            return None
        hour, minute = self.daily_summary_at.split(":")
        return time(int(hour), int(minute))

    @field_validator("cap_sender")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        value = value.strip()
        if not value or re.search(r"[\s,<&]", value):
            raise ValueError("must be non-empty without spaces, commas, < or & (CAP 1.2)")
        return value

    def table_limits(self) -> TableLimits:
        """What an uploaded roster file may hold."""
        return TableLimits(
            self.roster_max_bytes,
            self.roster_max_rows,
            self.roster_max_columns,
            self.roster_max_cell_chars,
            self.roster_max_unzipped,
        )

    def warning_policy(self) -> WarningPolicy:
        """This deployment's warning rules."""
        rate = self.send_paid_per_second if self.allow_paid_broadcast else self.send_overall_per_second
        return WarningPolicy(
            approval_levels=frozenset(x for x in self.warning_approval_levels.split(",") if x),
            remind_after=timedelta(minutes=self.warning_remind_minutes),
            escalate_after=timedelta(minutes=max(self.warning_escalate_minutes, self.warning_remind_minutes)),
            send_rate=rate,
        )

    def policy(self) -> Policy:
        """The statutory clocks this deployment keeps."""
        return load_policy(self.clock_policy_file)

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Asia/Shanghai)") from exc
        return value

    @field_validator("default_locale")
    @classmethod
    def _check_locale(cls, value: str) -> str:
        if value not in SUPPORTED_LOCALES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        value = value.upper()
        if value not in logging.getLevelNamesMapping():
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SettingsError(Exception):
    """Raised with a message naming every invalid setting."""


class _Given(Settings):
    """Settings from the values given only (no process environment, no .env read behind our back)."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: Any, init_settings: Any, *_: Any, **__: Any) -> tuple[Any, ...]:
        return (init_settings,)


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
) -> Settings:
    """Read settings from `environ` (default: the process environment) and `env_file`, then `overrides`;
    raise SettingsError naming each bad setting. Tests pass their own `environ` and `env_file=None`."""
    from dotenv import dotenv_values

    source: dict[str, Any] = {}
    if env_file is not None and Path(env_file).is_file():
        source.update({k.lower(): v for k, v in dotenv_values(env_file).items() if v is not None})
    env = os.environ if environ is None else environ
    names = set(Settings.model_fields)
    source.update({k.lower(): v for k, v in env.items() if k.lower() in names})
    source.update(overrides or {})
    try:
        return _Given(**{k: v for k, v in source.items() if k in names})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"invalid setting {name}: {msg}")
        raise SettingsError("\n".join(lines)) from None
