"""cashbot's own web pages (the connect flows): a per-response style nonce and strict headers."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import HTMLResponse

from bot.render import Renderer
from handlers.notify import SlackNotifier


@dataclass(frozen=True)
class PageKit:
    """What every provider's web pages are given: rendering, Slack notices and its first sync."""

    renderer: Renderer
    notifier: SlackNotifier
    secure: bool  # PUBLIC_URL is https: cookies are Secure
    sync_interval_minutes: int
    workspace_id: Callable[[str], Awaitable[int]]  # Slack team id -> workspace id
    first_sync: Callable[[int], Awaitable[object]]  # runs this provider's first sync of a workspace


def security_headers(secure: bool, nonce: str | None = None) -> dict[str, str]:
    """No caching, no framing, no referrer, no script; styles only with this response's nonce."""
    styles = f"'nonce-{nonce}'" if nonce else "'none'"
    headers = {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src {styles}; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


def html_page(
    renderer: Renderer, template: str, *, status: int, secure: bool, **context: Any
) -> HTMLResponse:
    """`template` (which extends page_base.html) rendered with a fresh style nonce and the headers above."""
    nonce = secrets.token_urlsafe(16)
    html = renderer.html(template, nonce=nonce, **context)
    return HTMLResponse(html, status_code=status, headers=security_headers(secure, nonce))
