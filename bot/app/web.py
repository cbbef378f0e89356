"""create_app(): the Starlette application, its routes and its lifespan."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import metrics
from bot.app.https import add_https_middleware
from bot.app.runtime import Runtime
from bot.app.wiring import SLACK_INSTALL_PATH, SLACK_REDIRECT_PATH
from bot.features.rate_limit import AddressLimiter
from bot.providers import registry
from handlers import web
from handlers.slack_http import SlackEndpoint
from handlers.throttle import Throttle
from storage.migrate import upgrade_to_head

log = logging.getLogger("cashbot.http")

Hook = Callable[[Runtime], Awaitable[None]]
SLOW_SECONDS = 1.0  # Slack gives up at 3


def create_app(
    runtime: Runtime,
    *,
    migrate_on_start: bool = False,
    on_start: list[Hook] | None = None,
    on_stop: list[Hook] | None = None,
) -> Starlette:
    """The web process: Slack, connect links, health and metrics, around one Runtime."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if migrate_on_start:
            await upgrade_to_head(runtime.core.database)
        for hook in on_start or []:
            await hook(runtime)
        try:
            yield
        finally:
            for hook in on_stop or []:
                await hook(runtime)
            await runtime.aclose()

    app = Starlette(
        routes=_routes(runtime),
        lifespan=lifespan,
        exception_handlers={ClientDisconnect: _client_gone},
    )
    if runtime.core.settings.connect_rate_per_minute:
        limiter = AddressLimiter(runtime.core.settings.connect_rate_per_minute, clock=runtime.core.clock)
        app.add_middleware(Throttle, limiter=limiter, paths=_provider_paths())
    app.add_middleware(AccessLog)  # added last, so outermost: a refused request is logged too
    # Outermost: the client address and scheme come from a trusted proxy before anything reads them.
    add_https_middleware(app, runtime.core.settings.public_url, runtime.core.settings.trusted_proxies)
    return app


def _routes(runtime: Runtime) -> list[BaseRoute]:
    if runtime.slack.app is None:
        raise ValueError("the web app needs a runtime built with web=True")
    handler = AsyncSlackRequestHandler(runtime.slack.app)
    slack_events = SlackEndpoint(
        runtime.slack.app, runtime.core.settings.slack_signing_secret or "", clock=runtime.core.clock
    )
    routes: list[BaseRoute] = [
        Route("/slack/events", slack_events.handle, methods=["POST"]),
        Route("/healthz", web.healthz, methods=["GET"]),
        Route("/readyz", web.readyz(runtime.services.health), methods=["GET"]),  # type: ignore[arg-type]
        Route("/metrics", web.metrics(runtime.core.settings.metrics_token), methods=["GET"]),
    ]
    if runtime.slack.app.oauth_flow is not None:
        routes += [
            Route(SLACK_INSTALL_PATH, handler.handle, methods=["GET"]),
            Route(SLACK_REDIRECT_PATH, handler.handle, methods=["GET"]),
        ]
    return [*routes, *runtime.providers.web_routes]


async def _client_gone(request: Request, error: Exception) -> Response:
    """The client hung up while sending its body: nothing to answer and nothing broke (a 400 the
    server drops, so the access log and metrics show it as a client's fault, not ours)."""
    log.info("http.client_disconnected", extra={"path": request.url.path})
    return Response(status_code=400)


def _provider_paths() -> frozenset[str]:
    """The installed providers' web pages: the connect links and the OAuth callbacks."""
    return frozenset(path for package in registry.INSTALLED for path in package.web_paths)


class AccessLog:
    """Logs method, path (never the query: one-time tokens live there), status and duration."""

    # Labels come from this list only: a label per arbitrary path would let anyone grow /metrics.
    KNOWN_ROUTES = frozenset(
        {
            "/slack/events",
            "/slack/install",
            "/slack/oauth_redirect",
            "/healthz",
            "/readyz",
            "/metrics",
        }
        | _provider_paths()
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self._record(scope, status["code"], time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        path = scope.get("path", "")
        route = path if path in self.KNOWN_ROUTES else "other"
        metrics.HTTP_REQUESTS.labels(route=route, status=str(status)).observe(elapsed)
        level = _log_level(status, elapsed)
        if log.isEnabledFor(level):
            details = {
                "method": scope.get("method"),
                "path": route,
                "status": status,
                "ms": round(elapsed * 1000, 1),
            }
            log.log(level, "http.request", extra=details)


def _log_level(status: int, elapsed: float) -> int:
    """Every answered command is in the audit trail and every request in the metrics: routine
    successes are logged at DEBUG, so a busy bot does not spend its time writing them."""
    if status >= 500 or elapsed > SLOW_SECONDS:
        return logging.WARNING
    return logging.INFO if status >= 400 else logging.DEBUG
