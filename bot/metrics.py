"""Prometheus metrics exposed at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Histogram(
    "cashbot_http_request_seconds",
    "Time to answer an HTTP request, by route and status.",
    ["route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SLACK_COMMANDS = Counter("cashbot_slack_commands_total", "Slash commands answered.", ["command", "outcome"])
SLACK_REJECTED = Counter(
    "cashbot_slack_rejected_total", "Slack requests refused before any handler.", ["reason"]
)
SYNC_RUNS = Counter("cashbot_sync_runs_total", "Sync runs by provider and outcome.", ["provider", "outcome"])
PROVIDER_CALLS = Counter("cashbot_provider_calls_total", "Calls to outside APIs.", ["provider", "status"])
