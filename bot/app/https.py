"""HTTPS behind a reverse proxy: forwarded headers from trusted proxies only, redirects and HSTS."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from handlers.web_pages import security_headers

# Machine endpoints: Slack's POSTs must never be redirected (Slack does not follow redirects and
# would report the app as failing), and probes and scrapers talk to the process directly.
MACHINE_PATHS = frozenset({"/slack/events", "/healthz", "/readyz", "/metrics"})


def add_https_middleware(app: Starlette, public_url: str, trusted_proxies: Sequence[str]) -> None:
    """Outermost first: the proxy headers (from trusted peers only) set the scheme and client the
    browser security then looks at. With no trusted proxy, X-Forwarded-* is never read."""
    app.add_middleware(BrowserSecurity, public_url=public_url)
    if trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted_proxies))


class BrowserSecurity:
    """With an https PUBLIC_URL: browser pages reached over http are redirected to it, and every
    browser page (the Slack install pages included) carries HSTS and the usual security headers."""

    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        parts = urlsplit(public_url)
        self._secure = parts.scheme == "https"
        self._origin = f"{parts.scheme}://{parts.netloc}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._secure or scope.get("path") in MACHINE_PATHS:
            await self.app(scope, receive, send)
            return
        if scope.get("scheme") == "http" and scope.get("method") in ("GET", "HEAD"):
            await self._redirect(scope, receive, send)
            return
        defaults = security_headers(secure=scope.get("scheme") == "https")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in defaults.items():
                    if name not in headers:  # a page that set its own (its style nonce) keeps it
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _redirect(self, scope: Scope, receive: Receive, send: Send) -> None:
        # To PUBLIC_URL's own host, never the Host header: no open redirect through a forged one.
        query = scope.get("query_string", b"").decode("latin-1")
        target = self._origin + scope.get("path", "/") + (f"?{query}" if query else "")
        await RedirectResponse(target, status_code=308)(scope, receive, send)
