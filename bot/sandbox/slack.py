"""A Slack Web API simulator: answers like Slack, records every call, fails on request.

Methods: auth.test, oauth.v2.access, chat.postMessage, chat.postEphemeral, chat.update,
views.publish, views.open, users.info, conversations.info; posts to `response_url`s it hands out;
and an OAuth authorize page that approves at once. Tests drive it in-process (`SlackSimulator`)
and other processes through `/_sim/*`.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.clock import Clock, SystemClock

DEFAULT_TEAM = "T0CASHBOT"
DEFAULT_CLIENT_ID = "1111.2222"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"
BOT_SCOPES = "commands,chat:write,users:read"


@dataclass
class SimUser:
    """A member of a simulated workspace."""

    id: str
    name: str
    is_admin: bool = False
    is_owner: bool = False
    locale: str = "en-US"
    tz: str = "Europe/Brussels"


@dataclass
class SimTeam:
    """A simulated workspace with its members."""

    id: str
    name: str
    users: dict[str, SimUser] = field(default_factory=dict)


@dataclass
class RecordedCall:
    """One request the simulator received."""

    method: str
    params: dict[str, Any]
    token: str | None


@dataclass
class Failure:
    """A programmed failure for the next `times` calls of a method."""

    mode: str  # "ratelimited" | "invalid_auth" | "hang" | "error" | "http_500"
    times: int = 1
    retry_after: int = 1
    seconds: float = 30.0
    error: str = "internal_error"


class SlackSimulator:
    """State and behaviour of the simulated Slack; `app` is its ASGI application."""

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self.client_id = client_id
        self.client_secret = client_secret
        self.base_url = ""  # set once served; response_urls point back here
        self.teams: dict[str, SimTeam] = {}
        self.calls: list[RecordedCall] = []
        self.responses: list[RecordedCall] = []
        self.tokens: dict[str, tuple[str, str]] = {}  # token -> (team_id, user_id)
        self._codes: dict[str, tuple[str, str, str]] = {}  # code -> (team, user, redirect_uri)
        self._failures: dict[str, list[Failure]] = {}
        self._ts = itertools.count(1)
        self._response_arrived = asyncio.Event()
        self.add_team(DEFAULT_TEAM, "Cashbot Demo BV")
        self.app = self._build_app()

    # ---- set-up from tests ---------------------------------------------------------------
    def add_team(self, team_id: str, name: str) -> SimTeam:
        team = SimTeam(team_id, name)
        team.users["U0ADMIN"] = SimUser("U0ADMIN", "anna.admin", is_admin=True, locale="nl-BE")
        team.users["U0MEMBER"] = SimUser("U0MEMBER", "maarten.member", locale="fr-BE")
        self.teams[team_id] = team
        return team

    def issue_bot_token(self, team_id: str = DEFAULT_TEAM) -> str:
        token = f"xoxb-sim-{team_id}-{secrets.token_hex(8)}"
        self.tokens[token] = (team_id, "U0BOT")
        return token

    def fail(self, method: str, failure: Failure) -> None:
        """Make the next `failure.times` calls of `method` fail as described."""
        self._failures.setdefault(method, []).append(failure)

    def new_response_url(self) -> str:
        return f"{self.base_url}/_response/{uuid.uuid4().hex}"

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    def reset(self) -> None:
        self.calls.clear()
        self.responses.clear()
        self._failures.clear()

    async def wait_for_response(self, count: int = 1, within: float = 5.0) -> list[RecordedCall]:
        """Wait until at least `count` posts reached response_urls; return them."""
        try:
            async with asyncio.timeout(within):
                while len(self.responses) < count:
                    self._response_arrived.clear()
                    await self._response_arrived.wait()
        except TimeoutError:
            raise TimeoutError(f"expected {count} response_url posts, got {len(self.responses)}") from None
        return list(self.responses)

    # ---- HTTP ---------------------------------------------------------------------------------
    def _build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/oauth/v2/authorize", self._authorize, methods=["GET"]),
                Route("/_response/{key}", self._response_url, methods=["POST"]),
                Route("/_sim/calls", self._sim_calls, methods=["GET"]),
                Route("/_sim/fail", self._sim_fail, methods=["POST"]),
                Route("/_sim/reset", self._sim_reset, methods=["POST"]),
                Route("/_sim/token", self._sim_token, methods=["POST"]),
            ]
        )

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        params = await _read_params(request)
        token = _bearer(request) or params.pop("token", None)
        self.calls.append(RecordedCall(method, params, token))
        failed = await self._maybe_fail(method)
        if failed is not None:
            return failed
        handler = _METHODS.get(method)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"}, status_code=404)
        if method != "oauth.v2.access" and token not in self.tokens:
            return JSONResponse({"ok": False, "error": "invalid_auth" if token else "not_authed"})
        return JSONResponse(handler(self, params, token, request))

    async def _maybe_fail(self, method: str) -> Response | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        if failure.mode == "ratelimited":
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                status_code=429,
                headers={"Retry-After": str(failure.retry_after)},
            )
        if failure.mode == "hang":
            await asyncio.sleep(failure.seconds)
        if failure.mode == "http_500":
            return Response("upstream trouble", status_code=500)
        if failure.mode == "invalid_auth":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if failure.mode == "error":
            return JSONResponse({"ok": False, "error": failure.error})
        return None

    async def _authorize(self, request: Request) -> Response:
        """Approve at once, as if the admin clicked "Allow", and go back with a code."""
        query = request.query_params
        if query.get("client_id") != self.client_id:
            return Response("unknown client_id", status_code=400)
        team_id = query.get("team") or DEFAULT_TEAM
        code = secrets.token_urlsafe(16)
        redirect_uri = query.get("redirect_uri", "")
        self._codes[code] = (team_id, "U0ADMIN", redirect_uri)
        target = redirect_uri + "?" + urlencode({"code": code, "state": query.get("state", "")})
        return RedirectResponse(target, status_code=302)

    async def _response_url(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return Response("invalid_payload", status_code=400)
        self.responses.append(RecordedCall(f"response_url:{request.path_params['key']}", payload, None))
        self._response_arrived.set()
        return Response("ok")

    async def _sim_calls(self, request: Request) -> Response:
        return JSONResponse(
            {
                "calls": [{"method": c.method, "params": c.params} for c in self.calls],
                "responses": [{"method": c.method, "params": c.params} for c in self.responses],
            }
        )

    async def _sim_fail(self, request: Request) -> Response:
        spec = await request.json()
        method = spec.pop("method")
        self.fail(method, Failure(**spec))
        return JSONResponse({"ok": True})

    async def _sim_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"ok": True})

    async def _sim_token(self, request: Request) -> Response:
        spec = await request.json() if await request.body() else {}
        return JSONResponse({"token": self.issue_bot_token(spec.get("team_id", DEFAULT_TEAM))})

    # ---- method implementations ------------------------------------------------------------------
    def _team_of(self, token: str | None) -> SimTeam:
        team_id, _ = self.tokens[token or ""]
        return self.teams[team_id]

    def auth_test(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        team = self._team_of(token)
        _, user_id = self.tokens[token or ""]
        return {
            "ok": True,
            "url": f"https://{team.id.lower()}.slack.com/",
            "team": team.name,
            "team_id": team.id,
            "user": "cashbot",
            "user_id": user_id,
            "bot_id": "B0CASHBOT",
            "is_enterprise_install": False,
        }

    def oauth_v2_access(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        client_id, client_secret = _basic_auth(request) or (
            params.get("client_id"),
            params.get("client_secret"),
        )
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        grant = self._codes.pop(params.get("code", ""), None)
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        team_id, user_id, redirect_uri = grant
        if params.get("redirect_uri") and params["redirect_uri"] != redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        team = self.teams[team_id]
        return {
            "ok": True,
            "app_id": "A0CASHBOT",
            "authed_user": {"id": user_id},
            "scope": BOT_SCOPES,
            "token_type": "bot",
            "access_token": self.issue_bot_token(team_id),
            "bot_user_id": "U0BOT",
            "team": {"id": team.id, "name": team.name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def post_message(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        ts = f"{int(self._clock.now().timestamp())}.{next(self._ts):06d}"
        return {
            "ok": True,
            "channel": params["channel"],
            "ts": ts,
            "message": {"text": params.get("text"), "ts": ts},
        }

    def post_ephemeral(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        return {"ok": True, "message_ts": f"{int(self._clock.now().timestamp())}.{next(self._ts):06d}"}

    def update(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        return {
            "ok": True,
            "channel": params.get("channel"),
            "ts": params.get("ts"),
            "text": params.get("text"),
        }

    def views(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        return {
            "ok": True,
            "view": {"id": f"V{next(self._ts):08d}", **_json_field(params.get("view"))},
        }

    def users_info(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        team = self._team_of(token)
        user = team.users.get(params.get("user", ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": team.id,
                "name": user.name,
                "real_name": user.name.replace(".", " ").title(),
                "is_admin": user.is_admin,
                "is_owner": user.is_owner,
                "tz": user.tz,
                "locale": user.locale,
            },
        }

    def conversations_info(
        self, params: dict[str, Any], token: str | None, request: Request
    ) -> dict[str, Any]:
        channel = params.get("channel", "")
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_private": channel.startswith("G"),
            },
        }


_METHODS = {
    "auth.test": SlackSimulator.auth_test,
    "oauth.v2.access": SlackSimulator.oauth_v2_access,
    "chat.postMessage": SlackSimulator.post_message,
    "chat.postEphemeral": SlackSimulator.post_ephemeral,
    "chat.update": SlackSimulator.update,
    "views.publish": SlackSimulator.views,
    "views.open": SlackSimulator.views,
    "users.info": SlackSimulator.users_info,
    "conversations.info": SlackSimulator.conversations_info,
}


async def _read_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return params
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            loaded = json.loads(body)
        except json.JSONDecodeError:
            return params
        if isinstance(loaded, dict):
            params.update(loaded)
        return params
    params.update(dict(parse_qsl(body.decode(), keep_blank_values=True)))
    return params


def _json_field(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else None


def _basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password
