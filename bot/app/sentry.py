"""Optional error tracking: Sentry when SENTRY_DSN is set, scrubbed like the logs and tagged."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

from bot import log_context
from bot.app.logs import scrub
from bot.config import Settings
from bot.errors import ConfigError

# Context fields that become Sentry tags (searchable), under these names.
TAGS = {
    "workspace": "workspace",
    "workspace_id": "workspace",
    "team_id": "workspace",
    "command": "command",
    "job": "job",
    "provider": "provider",
    "provider_call": "provider_call",
}


def init_sentry(settings: Settings) -> bool:
    """Start reporting errors when SENTRY_DSN is set; False when it is not."""
    if not settings.sentry_dsn:
        return False
    try:
        import sentry_sdk
    except ImportError:
        raise ConfigError(
            "SENTRY_DSN", "is set but sentry-sdk is not installed", "pip install 'cashbot[sentry]'"
        ) from None
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        release=f"cashbot@{importlib.metadata.version('cashbot')}",
        before_send=before_send,  # type: ignore[arg-type]  # sentry's Event is a TypedDict
        before_breadcrumb=before_breadcrumb,
        include_local_variables=False,  # locals hold tokens, keys and bank data
        max_request_body_size="never",
        traces_sample_rate=0.0,
    )
    return True


def before_send(event: dict[str, Any], hint: Mapping[str, Any]) -> dict[str, Any]:
    """Tag the event with what the task was doing, then scrub every string in it."""
    tags = dict(event.get("tags") or {})
    for field, value in {**_extra_fields(event), **log_context.current()}.items():
        if field in TAGS:
            tags[TAGS[field]] = value
    error = (hint.get("exc_info") or (None, None, None))[1]
    provider = getattr(error, "provider", None)
    if isinstance(provider, str):
        tags.setdefault("provider", provider)
    event["tags"] = tags
    request = event.get("request")
    if isinstance(request, dict):  # a query string carries one-time tokens; a body, anything
        for part in ("query_string", "data", "cookies"):
            request.pop(part, None)
    return scrubbed(event)  # type: ignore[no-any-return]


def before_breadcrumb(crumb: dict[str, Any], hint: Mapping[str, Any]) -> dict[str, Any]:
    return scrubbed(crumb)  # type: ignore[no-any-return]


def _extra_fields(event: Mapping[str, Any]) -> dict[str, str]:
    extra = event.get("extra")
    return {k: str(v) for k, v in extra.items() if k in TAGS} if isinstance(extra, dict) else {}


def scrubbed(value: Any) -> Any:
    """`value` with the log scrubber applied to every string, at any depth."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(item) for item in value]
    return value
