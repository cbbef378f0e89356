"""Settings from the environment: the only module that reads os.environ."""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from bot.errors import ConfigError

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
SlackMode = Literal["single", "multi", "none"]


@dataclass(frozen=True)
class Settings:
    """Every setting of the contract in DESIGN.md §2, parsed and validated once."""

    slack_signing_secret: str | None = None
    slack_bot_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
    slack_api_url: str = "https://slack.com/api/"
    slack_authorize_url: str = "https://slack.com/oauth/v2/authorize"
    public_url: str = "http://localhost:3000"
    host: str = "0.0.0.0"  # noqa: S104 - a web service listens on all interfaces by default
    port: int = 3000
    database_url: str = "sqlite+aiosqlite:///./cashbot.db"
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    audit_key: str | None = field(default=None, repr=False)
    ponto_client_id: str | None = None
    ponto_client_secret: str | None = field(default=None, repr=False)
    ponto_api_url: str = "https://api.ibanity.com/ponto-connect"
    ponto_authorization_url: str = "https://authorization.myponto.com/oauth2/auth"
    ponto_client_cert: str | None = None
    ponto_client_key: str | None = None
    ponto_scopes: str = "ai offline_access name"
    ponto_request_sync: bool = False
    ponto_unknown_attributes: Literal["error", "ignore"] = "error"
    yuki_api_url: str = "https://api.yukiworks.be/ws"
    yuki_daily_call_budget: int = 800
    redis_url: str | None = None
    timezone: str = "Europe/Brussels"
    sync_interval_minutes: int = 60
    alert_after_minutes: int = 30  # a failure that may heal itself is an alert after this long
    min_free_disk_mb: int = 100
    # Processes that draw digest charts (0: a thread of the worker itself).
    chart_processes: int = 0
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    @property
    def slack_mode(self) -> SlackMode:
        """Which way the bot finds its Slack tokens."""
        if self.slack_client_id and self.slack_client_secret:
            return "multi"
        return "single" if self.slack_bot_token else "none"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def url_for(self, path: str) -> str:
        """An absolute URL under PUBLIC_URL (every redirect URI is built here)."""
        return self.public_url + "/" + path.lstrip("/")

    def require_web(self) -> None:
        """Stop unless everything the Slack-facing web process needs is present."""
        if not self.slack_signing_secret:
            raise ConfigError(
                "SLACK_SIGNING_SECRET",
                "is not set",
                "copy it from your Slack app's Basic Information page",
            )
        if self.slack_mode == "none":
            raise ConfigError(
                "SLACK_BOT_TOKEN",
                "is not set and neither are SLACK_CLIENT_ID/SLACK_CLIENT_SECRET",
                "set SLACK_BOT_TOKEN for one workspace, or both SLACK_CLIENT_ID and "
                "SLACK_CLIENT_SECRET to install through /slack/install",
            )
        self.require_secrets()

    def require_secrets(self) -> None:
        """Stop unless the encryption keys are present (anything touching stored secrets)."""
        if not self.encryption_keys:
            raise ConfigError(
                "CASHBOT_ENCRYPTION_KEYS",
                "is not set",
                "run `cashbot keygen` and set CASHBOT_ENCRYPTION_KEYS to the key it prints",
            )
        if not self.audit_key:
            raise ConfigError(
                "CASHBOT_AUDIT_KEY",
                "is not set",
                "run `cashbot keygen` and set CASHBOT_AUDIT_KEY to the key it prints "
                "(a different key from CASHBOT_ENCRYPTION_KEYS; keep it outside the database)",
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse the environment; a malformed value raises ConfigError naming the variable."""
        env = _Env(os.environ if environ is None else environ)
        slack_client_id = env.text("SLACK_CLIENT_ID")
        slack_client_secret = env.text("SLACK_CLIENT_SECRET")
        _check_slack_pair(slack_client_id, slack_client_secret, env.text("SLACK_BOT_TOKEN"))
        return cls(
            slack_signing_secret=env.text("SLACK_SIGNING_SECRET"),
            slack_bot_token=env.text("SLACK_BOT_TOKEN"),
            slack_client_id=slack_client_id,
            slack_client_secret=slack_client_secret,
            slack_api_url=env.url("SLACK_API_URL", cls.slack_api_url, trailing_slash=True),
            slack_authorize_url=env.url("SLACK_AUTHORIZE_URL", cls.slack_authorize_url),
            public_url=env.public_url("PUBLIC_URL", cls.public_url),
            host=env.text("HOST") or cls.host,
            port=env.integer("PORT", cls.port, 1, 65535),
            database_url=env.database_url("DATABASE_URL", cls.database_url),
            encryption_keys=env.fernet_keys("CASHBOT_ENCRYPTION_KEYS"),
            audit_key=env.secret_key("CASHBOT_AUDIT_KEY"),
            ponto_client_id=env.text("PONTO_CLIENT_ID"),
            ponto_client_secret=env.text("PONTO_CLIENT_SECRET"),
            ponto_api_url=env.url("PONTO_API_URL", cls.ponto_api_url),
            ponto_authorization_url=env.url("PONTO_AUTHORIZATION_URL", cls.ponto_authorization_url),
            ponto_client_cert=env.existing_file("PONTO_CLIENT_CERT"),
            ponto_client_key=env.existing_file("PONTO_CLIENT_KEY"),
            ponto_scopes=env.text("PONTO_SCOPES") or cls.ponto_scopes,
            ponto_request_sync=env.boolean("PONTO_REQUEST_SYNC", cls.ponto_request_sync),
            ponto_unknown_attributes=(
                "ignore"
                if env.choice("PONTO_UNKNOWN_ATTRIBUTES", "ERROR", ("ERROR", "IGNORE")) == "IGNORE"
                else "error"
            ),
            yuki_api_url=env.url("YUKI_API_URL", cls.yuki_api_url),
            yuki_daily_call_budget=env.integer(
                "YUKI_DAILY_CALL_BUDGET", cls.yuki_daily_call_budget, 1, 100_000
            ),
            redis_url=env.redis_url("REDIS_URL"),
            timezone=env.timezone("CASHBOT_TIMEZONE", cls.timezone),
            sync_interval_minutes=env.integer(
                "CASHBOT_SYNC_INTERVAL_MINUTES", cls.sync_interval_minutes, 5, 24 * 60
            ),
            alert_after_minutes=env.integer(
                "CASHBOT_ALERT_AFTER_MINUTES", cls.alert_after_minutes, 1, 7 * 24 * 60
            ),
            min_free_disk_mb=env.integer("CASHBOT_MIN_FREE_DISK_MB", cls.min_free_disk_mb, 0, 10**7),
            chart_processes=env.integer("CASHBOT_CHART_PROCESSES", cls.chart_processes, 0, 64),
            log_level=env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            log_format=env.log_format(),
        )


def _check_slack_pair(client_id: str | None, client_secret: str | None, bot_token: str | None) -> None:
    if bool(client_id) != bool(client_secret):
        missing = "SLACK_CLIENT_SECRET" if client_id else "SLACK_CLIENT_ID"
        raise ConfigError(missing, "is not set", "multi-workspace mode needs both client id and secret")
    if client_id and bot_token:
        raise ConfigError(
            "SLACK_BOT_TOKEN",
            "is set together with SLACK_CLIENT_ID",
            "unset one: SLACK_BOT_TOKEN serves one workspace, SLACK_CLIENT_ID/SECRET install many",
        )


class _Env:
    """Typed readers over one environment mapping; each raises ConfigError on a bad value."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(name, f"is {raw!r}, not a whole number", f"use {low}..{high}") from None
        if not low <= value <= high:
            raise ConfigError(name, f"is {value}, out of range", f"use {low}..{high}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = (self.text(name) or "").lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"is {raw!r}", "use true or false")

    def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
        value = (self.text(name) or default).upper()
        if value not in options:
            raise ConfigError(name, f"is {value!r}", "use one of " + ", ".join(options))
        return value

    def log_format(self) -> Literal["json", "text"]:
        value = (self.text("LOG_FORMAT") or "json").lower()
        if value == "json":
            return "json"
        if value == "text":
            return "text"
        raise ConfigError("LOG_FORMAT", f"is {value!r}", "use json or text")

    def url(self, name: str, default: str, *, trailing_slash: bool = False) -> str:
        value = self.text(name) or default
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(name, f"is {value!r}, not an http(s) URL", "use e.g. https://host/path")
        if trailing_slash and not value.endswith("/"):
            value += "/"
        return value

    def public_url(self, name: str, default: str) -> str:
        value = self.url(name, default).rstrip("/")
        parts = urlsplit(value)
        if parts.query or parts.fragment:
            raise ConfigError(name, "has a query or fragment", "use the bare base URL")
        if parts.scheme != "https" and parts.hostname not in LOCAL_HOSTS:
            raise ConfigError(
                name,
                f"is {value!r}, which is not https",
                "serve the bot over https (only localhost/127.0.0.1 may use http)",
            )
        return value

    def database_url(self, name: str, default: str) -> str:
        value = self.text(name) or default
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ConfigError(name, "is not a database URL", "use sqlite+aiosqlite:///path.db")
        aliases = {
            "sqlite": "sqlite+aiosqlite",
            "postgres": "postgresql+asyncpg",
            "postgresql": "postgresql+asyncpg",
        }
        scheme = aliases.get(scheme, scheme)
        if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ConfigError(
                name,
                f"uses the driver {scheme!r}",
                "use sqlite+aiosqlite:///file.db or postgresql+asyncpg://user@host/db",
            )
        return f"{scheme}://{rest}"

    def fernet_keys(self, name: str) -> tuple[str, ...]:
        raw = self.text(name)
        if raw is None:
            return ()
        keys = tuple(k.strip() for k in raw.split(",") if k.strip())
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key.encode())
            except ValueError:
                raise ConfigError(
                    name,
                    f"key #{position} is not a Fernet key (32 url-safe base64 bytes)",
                    "run `cashbot keygen` to make a valid one",
                ) from None
        return keys

    def secret_key(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and len(value) < 32:
            raise ConfigError(name, "is shorter than 32 characters", "run `cashbot keygen`")
        return value

    def existing_file(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and not os.path.isfile(value):  # noqa: PTH113 - plain check
            raise ConfigError(name, f"names {value!r}, which is not a readable file", "fix the path")
        return value

    def redis_url(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(name, f"is {value!r}", "use redis://host:6379/0")
        return value

    def timezone(self, name: str, default: str) -> str:
        value = self.text(name) or default
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                name, f"is {value!r}, not a known timezone", "use e.g. Europe/Brussels"
            ) from None
        return value
