"""The per-address limit on the connect pages: a 429 with Retry-After before any page code runs.

The address is the ASGI client, taken from X-Forwarded-For only when the peer is one of
`CASHBOT_TRUSTED_PROXIES` (bot/app/https.py); otherwise the socket peer.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.errors import TooManyRequests
from bot.features.rate_limit import AddressLimiter

log = logging.getLogger(__name__)


class Throttle:
    """ASGI middleware: requests to `paths` spend a token of their client's bucket."""

    def __init__(self, app: ASGIApp, *, limiter: AddressLimiter, paths: Collection[str]) -> None:
        self.app = app
        self._limiter = limiter
        self._paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in self._paths:
            client = scope.get("client")
            address = str(client[0]) if client else "unknown"
            try:
                self._limiter.spend(address)
            except TooManyRequests as refused:
                log.warning(
                    "http.rate_limited", extra={"path": scope.get("path"), "retry_after": refused.retry_after}
                )
                answer = PlainTextResponse(
                    "Too many requests from your address. Wait a minute and open the link again.",
                    status_code=429,
                    headers={"Retry-After": str(refused.retry_after), "Cache-Control": "no-store"},
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
