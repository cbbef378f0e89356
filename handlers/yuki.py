"""GET/POST /connect/yuki: the one-time page where an admin enters the Yuki key, then picks the
administration. The key never passes through Slack, a URL or a log line.

The page is defended like a login form: the link token is checked at every step, each post
carries a CSRF token both in the form and in a SameSite=Strict cookie (and only its hash is
stored), nothing is cached, and a strict Content-Security-Policy allows no script at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from bot.domain import LinkGrant
from bot.errors import LinkInvalid, StorageUnavailable, UserError
from bot.providers.base import ProviderParts
from bot.providers.yuki.connect import CsrfRejected, YukiConnected, YukiConnector
from bot.providers.yuki.wiring import CONNECT_PATH
from bot.render import Renderer
from handlers.notify import SlackNotifier
from handlers.web_pages import PageKit, html_page

log = logging.getLogger(__name__)

PATH = CONNECT_PATH
COOKIE = "cashbot_yuki_csrf"
MAX_FORM_BYTES = 4096
FORM_TYPE = "application/x-www-form-urlencoded"

AfterConnect = Callable[[YukiConnected], Awaitable[Any]]


class YukiConnectPage:
    """Thin: check the request, call the connector, render the next page."""

    def __init__(
        self,
        connector: YukiConnector,
        renderer: Renderer,
        notifier: SlackNotifier,
        *,
        secure: bool,
        budget: int,
        sync_minutes: int,
        after_connect: AfterConnect | None = None,
    ) -> None:
        self._connector = connector
        self._renderer = renderer
        self._notifier = notifier
        self._secure = secure
        self._budget = budget
        self._sync_minutes = sync_minutes
        self._after_connect = after_connect

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self.endpoint, methods=["GET", "POST"])]

    async def endpoint(self, request: Request) -> Response:
        try:
            if request.method == "GET":
                return await self._show_form(request.query_params.get("t", ""))
            return await self._post(request)
        except StorageUnavailable:
            return self._problem(
                "cashbot cannot reach its database", "Nothing was saved. Try again in a minute.", 503
            )

    async def _show_form(self, token: str) -> Response:
        try:
            _, csrf = await self._connector.open_form(token)
        except LinkInvalid as error:
            return self._problem("This link cannot be used", str(error), 410)
        response = self._page("yuki_connect.html", token=token, csrf=csrf, error=None)
        response.set_cookie(
            COOKIE, csrf, max_age=15 * 60, path=PATH, secure=self._secure, httponly=True, samesite="strict"
        )
        return response

    async def _post(self, request: Request) -> Response:
        form = await _read_form(request)
        if isinstance(form, Response):
            return form
        token, csrf = form.get("t", ""), form.get("csrf", "")
        try:
            grant = await self._connector.check(token, csrf, request.cookies.get(COOKIE))
        except LinkInvalid as error:
            return self._problem("This link cannot be used", str(error), 410)
        except CsrfRejected as error:
            return self._problem("This form could not be verified", str(error), 403)
        step = form.get("step")
        if step == "key":
            return await self._submit_key(token, csrf, grant, form)
        if step == "choose":
            return await self._choose(token, csrf, grant, form)
        return self._problem("Unexpected form", "The form was not sent as cashbot wrote it.", 400)

    async def _submit_key(self, token: str, csrf: str, grant: LinkGrant, form: dict[str, str]) -> Response:
        try:
            administrations = await self._connector.submit_key(grant, form.get("access_key", ""))
        except UserError as error:
            return self._page("yuki_connect.html", 422, token=token, csrf=csrf, error=str(error))
        return self._page(
            "yuki_choose.html",
            token=token,
            csrf=csrf,
            administrations=administrations,
            gl_prefixes=None,
            error=None,
        )

    async def _choose(self, token: str, csrf: str, grant: LinkGrant, form: dict[str, str]) -> Response:
        try:
            connected = await self._connector.choose(
                token, grant, form.get("administration", ""), form.get("gl_prefixes")
            )
        except LinkInvalid as error:
            return self._problem("This link cannot be used", str(error), 410)
        except UserError as error:
            administrations = await self._connector.administrations(grant)
            template = "yuki_choose.html" if administrations else "yuki_connect.html"
            return self._page(
                template,
                422,
                token=token,
                csrf=csrf,
                administrations=administrations,
                gl_prefixes=form.get("gl_prefixes"),
                error=str(error),
            )
        await self._confirm_in_slack(connected)
        response = self._page("yuki_done.html", administration=connected.administration.name)
        response.delete_cookie(COOKIE, path=PATH, secure=self._secure, httponly=True, samesite="strict")
        if self._after_connect is not None:
            response.background = BackgroundTask(self._after_connect, connected)
        return response

    async def _confirm_in_slack(self, connected: YukiConnected) -> None:
        message = self._renderer.message(
            "yuki_connected.json.j2",
            administration=connected.administration.name,
            minutes=self._sync_minutes,
        )
        posted = await self._notifier.post_to_user(
            connected.grant.team_id, connected.grant.slack_user_id, message
        )
        if posted is None:
            log.warning("yuki.confirmation_not_posted", extra={"team_id": connected.grant.team_id})

    def _problem(self, heading: str, message: str, status: int) -> Response:
        return self._page("yuki_problem.html", status, heading=heading, message=message)

    def _page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return html_page(
            self._renderer, template, status=status, secure=self._secure, budget=self._budget, **context
        )


async def _read_form(request: Request) -> dict[str, str] | Response:
    """The urlencoded form, at most MAX_FORM_BYTES; a plain error response otherwise."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        return Response("Unsupported form encoding.", status_code=415, headers={"Cache-Control": "no-store"})
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return Response("Form too large.", status_code=413, headers={"Cache-Control": "no-store"})
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return Response("Malformed form.", status_code=400, headers={"Cache-Control": "no-store"})
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)  # the first value of a repeated field counts
    return form


def pages(parts: ProviderParts[YukiConnector], kit: PageKit) -> list[BaseRoute]:
    """Yuki's connect form; a completed connect runs the first sync of the workspace."""

    async def first_sync(connected: YukiConnected) -> None:
        await kit.first_sync(connected.grant.workspace_id)

    page = YukiConnectPage(
        parts.connect,
        kit.renderer,
        kit.notifier,
        secure=kit.secure,
        budget=parts.budget.limit if parts.budget else 0,
        sync_minutes=kit.sync_interval_minutes,
        after_connect=first_sync,
    )
    return page.routes()
