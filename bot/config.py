"""Settings from the environment: the only module that reads os.environ."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.env import Env
from bot.errors import ConfigError
from bot.providers.settings import ProviderSettings

SlackMode = Literal["single", "multi", "none"]


@dataclass(frozen=True)
class Settings(ProviderSettings):
    """Every setting of the contract (README.md, Configuration), parsed and validated once."""

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
    redis_url: str | None = None
    timezone: str = "Europe/Brussels"
    sync_interval_minutes: int = 60
    alert_after_minutes: int = 30  # a failure that may heal itself is an alert after this long
    # Requests a minute per client address to the connect pages and callbacks (0: no limit).
    connect_rate_per_minute: int = 20
    min_free_disk_mb: int = 100
    # Operations: the ops channel, nightly jobs, retention, trusted proxies.
    ops_channel: str | None = None  # `C123`, or `T123/C123` to name the workspace it is in
    backup_dir: str = "./backups"
    backup_keep_daily: int = 7
    backup_keep_weekly: int = 4
    nightly_hour: int = 3  # local hour (CASHBOT_TIMEZONE) after which the nightly jobs run
    retention_months: int = 24
    # Loopback by default, as uvicorn trusts: a proxy on the same host (Caddy) is believed, so an
    # https PUBLIC_URL behind it does not redirect to itself forever.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    report_cache_seconds: int = 60  # how stale a cached /cash or /overdue report may be
    # Processes that draw digest charts (0: a thread of the worker itself). Built by hand (tests)
    # it is 0; from the environment it defaults to default_chart_processes().
    chart_processes: int = 0
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    # /metrics answers only `Authorization: Bearer <token>` when this is set.
    metrics_token: str | None = field(default=None, repr=False)
    # The worker's own /metrics (0: none; `serve` shows the worker's series on the web port).
    worker_metrics_port: int = 9464
    sentry_dsn: str | None = field(default=None, repr=False)

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
        env = Env(os.environ if environ is None else environ)
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
            **ProviderSettings.read_env(env),
            redis_url=env.redis_url("REDIS_URL"),
            timezone=env.timezone("CASHBOT_TIMEZONE", cls.timezone),
            sync_interval_minutes=env.integer(
                "CASHBOT_SYNC_INTERVAL_MINUTES", cls.sync_interval_minutes, 5, 24 * 60
            ),
            alert_after_minutes=env.integer(
                "CASHBOT_ALERT_AFTER_MINUTES", cls.alert_after_minutes, 1, 7 * 24 * 60
            ),
            connect_rate_per_minute=env.integer(
                "CASHBOT_CONNECT_RATE_PER_MINUTE", cls.connect_rate_per_minute, 0, 100_000
            ),
            min_free_disk_mb=env.integer("CASHBOT_MIN_FREE_DISK_MB", cls.min_free_disk_mb, 0, 10**7),
            report_cache_seconds=env.integer(
                "CASHBOT_REPORT_CACHE_SECONDS", cls.report_cache_seconds, 1, 3600
            ),
            chart_processes=env.integer("CASHBOT_CHART_PROCESSES", default_chart_processes(), 0, 64),
            **_ops_settings(env),
            log_level=env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            log_format=env.log_format(),
            metrics_token=env.text("CASHBOT_METRICS_TOKEN"),
            worker_metrics_port=env.integer("CASHBOT_WORKER_METRICS_PORT", cls.worker_metrics_port, 0, 65535),
            sentry_dsn=env.text("SENTRY_DSN"),
        )


def _ops_settings(env: Env) -> dict[str, Any]:
    """The operations settings (issue 13), read like the rest."""
    return {
        "ops_channel": env.text("CASHBOT_OPS_CHANNEL"),
        "backup_dir": env.text("CASHBOT_BACKUP_DIR") or Settings.backup_dir,
        "backup_keep_daily": env.integer("CASHBOT_BACKUP_KEEP_DAILY", Settings.backup_keep_daily, 1, 366),
        "backup_keep_weekly": env.integer("CASHBOT_BACKUP_KEEP_WEEKLY", Settings.backup_keep_weekly, 0, 520),
        "nightly_hour": env.integer("CASHBOT_NIGHTLY_HOUR", Settings.nightly_hour, 0, 23),
        "retention_months": env.integer("CASHBOT_RETENTION_MONTHS", Settings.retention_months, 1, 1200),
        "trusted_proxies": env.addresses("CASHBOT_TRUSTED_PROXIES") or Settings.trusted_proxies,
    }


def demo_logging(environ: Mapping[str, str] | None = None) -> tuple[str, Literal["json", "text"]]:
    """`cashbot demo`'s LOG_LEVEL and LOG_FORMAT: quiet, readable text unless asked otherwise."""
    env = Env(os.environ if environ is None else environ)
    level = env.choice("LOG_LEVEL", "WARNING", ("DEBUG", "INFO", "WARNING", "ERROR"))
    return level, env.log_format() if env.text("LOG_FORMAT") else "text"


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


def default_chart_processes() -> int:
    """One drawing process when there is a second core: the charts then leave the event loop's
    core to composing and sending (on one core a process would only add its memory)."""
    return 1 if (os.cpu_count() or 1) >= 2 else 0
