"""Ponto's web endpoints: the one-time link that starts consent, and Ponto's redirect back.

`GET /connect/ponto?t=…` uses the link up and redirects to Ponto with a state that is also set
in a short-lived HttpOnly cookie (bound to this browser); `GET /oauth/ponto/callback` finishes,
answers with a plain page and tells the person in Slack how it went.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.errors import LinkInvalid, StorageUnavailable
from bot.providers.base import ProviderParts
from bot.providers.ponto.consent import STATE_TTL, ConsentResult, PontoConsent
from bot.providers.ponto.plugin import CALLBACK_PATH, PontoPlugin
from bot.providers.ponto.wiring import PontoConnect
from bot.render import Renderer
from handlers.notify import SlackNotifier
from handlers.web_pages import PageKit, html_page, security_headers

log = logging.getLogger(__name__)

AfterConnect = Callable[[str], Awaitable[object]]
CONNECT_PATH = "/connect/ponto"
STATE_COOKIE = "cashbot_ponto_state"


class PontoWeb:
    """The two endpoints, around the consent service."""

    def __init__(
        self,
        consent: PontoConsent,
        plugin: PontoPlugin,
        renderer: Renderer,
        notifier: SlackNotifier,
        *,
        secure_cookie: bool,
        after_connect: AfterConnect | None = None,
    ) -> None:
        self._after_connect = after_connect
        self._consent = consent
        self._plugin = plugin
        self._renderer = renderer
        self._notifier = notifier
        self._secure = secure_cookie

    def routes(self) -> list[BaseRoute]:
        return [
            Route(CONNECT_PATH, self.connect, methods=["GET"]),
            Route(CALLBACK_PATH, self.callback, methods=["GET"]),
        ]

    async def connect(self, request: Request) -> Response:
        problem = self._plugin.configuration_problem()
        if problem is not None:
            return self._page("Ponto is not set up here", problem, ok=False, status=503)
        try:
            start = await self._consent.begin(request.query_params.get("t", ""))
        except LinkInvalid as error:
            return self._page("This link does not work", str(error), ok=False, status=400)
        except StorageUnavailable:
            return self._unavailable()
        response = RedirectResponse(start.url, status_code=302, headers=security_headers(self._secure))
        response.set_cookie(
            STATE_COOKIE,
            start.state,
            max_age=int(STATE_TTL.total_seconds()),
            path=CALLBACK_PATH,
            secure=self._secure,
            httponly=True,
            samesite="lax",  # sent on Ponto's top-level redirect back to us, not on cross-site posts
        )
        return response

    async def callback(self, request: Request) -> Response:
        query = request.query_params
        try:
            result = await self._consent.complete(
                state=query.get("state"),
                code=query.get("code"),
                error=query.get("error"),
                browser_state=request.cookies.get(STATE_COOKIE),
            )
        except StorageUnavailable:
            return self._unavailable()
        await self._tell_in_slack(result)
        title = "Ponto is connected" if result.ok else "Ponto was not connected"
        response = self._page(title, result.message, ok=result.ok, status=200 if result.ok else 400)
        response.delete_cookie(STATE_COOKIE, path=CALLBACK_PATH, secure=self._secure, httponly=True)
        if result.ok and result.team_id and self._after_connect is not None:
            response.background = BackgroundTask(self._after_connect, result.team_id)  # the first sync
        return response

    async def _tell_in_slack(self, result: ConsentResult) -> None:
        if result.team_id and result.user_id:
            message = self._renderer.message(
                "ponto_connect_result.json.j2", ok=result.ok, message=result.message
            )
            await self._notifier.post_to_user(result.team_id, result.user_id, message)

    def _page(self, title: str, message: str, *, ok: bool, status: int) -> Response:
        return html_page(
            self._renderer,
            "ponto_result.html",
            status=status,
            secure=self._secure,
            title=title,
            message=message.replace("`", ""),
            ok=ok,
        )

    def _unavailable(self) -> Response:
        return self._page(
            "cashbot is unavailable",
            "cashbot cannot reach its database right now. Try again in a minute.",
            ok=False,
            status=503,
        )


def pages(parts: ProviderParts[PontoConnect], kit: PageKit) -> list[BaseRoute]:
    """Ponto's routes; a completed consent runs the first sync of the workspace."""

    async def first_sync(team_id: str) -> None:
        await kit.first_sync(await kit.workspace_id(team_id))

    web = PontoWeb(
        parts.connect.consent,
        parts.connect.plugin,
        kit.renderer,
        kit.notifier,
        secure_cookie=kit.secure,
        after_connect=first_sync,
    )
    return web.routes()
