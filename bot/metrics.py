"""Prometheus metrics exposed at /metrics (web) and at the worker's own /metrics port."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Histogram(
    "cashbot_http_request_seconds",
    "Time to answer an HTTP request, by route and status.",
    ["route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SLACK_COMMANDS = Counter("cashbot_slack_commands_total", "Slash commands answered.", ["command", "outcome"])
COMMAND_SECONDS = Histogram(
    "cashbot_command_seconds",
    "Time to answer a slash command or a button, by command.",
    ["command"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
SLACK_REJECTED = Counter(
    "cashbot_slack_rejected_total", "Slack requests refused before any handler.", ["reason"]
)
SLACK_CALLS = Counter(
    "cashbot_slack_api_calls_total", "Slack Web API calls made, by method and outcome.", ["method", "outcome"]
)
SLACK_RATE_LIMITED = Counter("cashbot_slack_rate_limited_total", "429 answers from the Slack Web API.")
SYNC_RUNS = Counter("cashbot_sync_runs_total", "Sync runs by provider and outcome.", ["provider", "outcome"])
SYNC_SECONDS = Histogram(
    "cashbot_sync_seconds",
    "Duration of a sync run, by provider.",
    ["provider"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
PROVIDER_CALLS = Counter(
    "cashbot_provider_calls_total",
    "HTTP calls to provider APIs, retries included, by provider and outcome.",
    ["provider", "outcome"],
)
MESSAGES_SENT = Counter(
    "cashbot_messages_sent_total",
    "Messages the worker posted or edited from the outbox, by kind (digest, digest_file, alert, …).",
    ["kind"],
)
CALLS_LEFT_TODAY = Gauge(
    "cashbot_provider_calls_left_today",
    "Calls left in today's budget of a provider that has one, by its scope.",
    ["provider", "scope"],
)
CACHE_LOOKUPS = Counter(
    "cashbot_cache_lookups_total", "Report cache lookups, by backend and result.", ["backend", "result"]
)
BACKUP_LAST_SUCCESS = Gauge(
    "cashbot_backup_last_success_timestamp_seconds",
    "When the newest good backup was written (Unix time; 0: none).",
)
BACKUP_AGE = Gauge("cashbot_backup_age_seconds", "Seconds since the newest good backup (-1: none known yet).")
BACKUP_AGE.set(-1)
_last_backup = {"at": 0.0}


def provider_outcome(status: int | None) -> str:
    """A call's outcome: ok, client_error, rate_limited, server_error or network_error."""
    if status is None:
        return "network_error"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    return "client_error" if status >= 400 else "ok"


def record_backup(at: float) -> None:
    """A good backup was written at `at` (Unix seconds)."""
    _last_backup["at"] = max(_last_backup["at"], at)
    BACKUP_LAST_SUCCESS.set(_last_backup["at"])


def watch_backup_age(now: Callable[[], float]) -> None:
    """Compute the backup age at each scrape from the process's clock (`now`: Unix seconds)."""

    def age() -> float:
        last = _last_backup["at"]
        return -1.0 if last <= 0 else max(0.0, now() - last)

    BACKUP_AGE.set_function(age)


def message_kind(outbox_kind: str) -> str:
    """An outbox row's kind as a label: digest, digest_file, alert, alert_update, …"""
    kind = outbox_kind.replace(":", "_")
    return kind if kind.isidentifier() and len(kind) <= 32 else "other"
