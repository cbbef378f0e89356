"""A Slack Web API simulator: answers like Slack, records every call, fails on request.

Methods: auth.test, oauth.v2.access, chat.postMessage, chat.postEphemeral, chat.update,
views.publish, views.open, users.info, users.list, conversations.info, conversations.history,
conversations.replies, and the external
file upload (files.getUploadURLExternal, the upload URL, files.completeUploadExternal, files.info);
posts to `response_url`s it hands out; and an OAuth authorize page that approves at once. Tests
drive it in-process (`SlackSimulator`) and other processes through `/_sim/*`.

Switches: `fail()` for the next calls of a method (429 with Retry-After, 500, hang, any error);
`archive()`, `remove_bot()`, `revoke()` for lasting states (is_archived, not_in_channel,
token_revoked); `per_channel_interval` enforces Slack's one message a second per channel.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import time
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
BOT_SCOPES = "commands,chat:write,users:read,files:write,files:read,channels:history,groups:history"


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
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> posted messages, oldest first
        self.files: dict[str, dict[str, Any]] = {}  # file id -> name, bytes, channels shared in
        self.archived: set[str] = set()
        self.not_member: set[str] = set()
        self.revoked: set[str] = set()
        self.home_views: dict[str, dict[str, Any]] = {}  # user id -> the Home tab last published
        self.per_channel_interval: float | None = None  # seconds between posts in one channel
        self.token_rotation = False  # installs get a refresh token and a 12-hour bot token
        self.refresh_tokens: dict[str, str] = {}  # live refresh token -> team id
        self.rate_limited = 0  # 429s answered because of per_channel_interval
        self._last_post: dict[str, float] = {}
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

    def archive(self, channel_id: str) -> None:
        self.archived.add(channel_id)

    def remove_bot(self, channel_id: str) -> None:
        self.not_member.add(channel_id)

    def revoke(self, token: str) -> None:
        self.revoked.add(token)

    def posted(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages in a channel (chat.postMessage and shared files), oldest first."""
        return list(self.messages.get(channel_id, []))

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    def reset(self) -> None:
        self.calls.clear()
        self.responses.clear()
        self._failures.clear()
        self.messages.clear()
        self.files.clear()
        self.archived.clear()
        self.not_member.clear()
        self.revoked.clear()
        self.home_views.clear()
        self.per_channel_interval = None
        self.rate_limited = 0
        self.token_rotation = False
        self.refresh_tokens.clear()
        self._last_post.clear()

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
                Route("/_upload/{file_id}", self._upload, methods=["POST"]),
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
        if token in self.revoked:
            return JSONResponse({"ok": False, "error": "token_revoked"})
        if method != "oauth.v2.access" and token not in self.tokens:
            return JSONResponse({"ok": False, "error": "invalid_auth" if token else "not_authed"})
        if method in _POSTING:
            refused = self._channel_gate(str(params.get("channel") or params.get("channel_id") or ""))
            if refused is not None:
                return refused
        return JSONResponse(handler(self, params, token, request))

    def _channel_gate(self, channel: str) -> Response | None:
        """What Slack says about posting in a channel: archived, not a member, or too fast."""
        if channel in self.archived:
            return JSONResponse({"ok": False, "error": "is_archived"})
        if channel in self.not_member:
            return JSONResponse({"ok": False, "error": "not_in_channel"})
        if self.per_channel_interval is not None:
            now = time.monotonic()
            if now - self._last_post.get(channel, -1e9) < self.per_channel_interval:
                self.rate_limited += 1
                return JSONResponse(
                    {"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": "1"}
                )
            self._last_post[channel] = now
        return None

    async def _upload(self, request: Request) -> Response:
        file = self.files.get(request.path_params["file_id"])
        if file is None:
            return Response("unknown upload", status_code=404)
        file["content"] = await request.body()
        return Response("OK - " + str(len(file["content"])))

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
        if params.get("grant_type") == "refresh_token":
            return self._refresh(str(params.get("refresh_token", "")))
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
            **(self._rotating(team_id) if self.token_rotation else {}),
        }

    def _rotating(self, team_id: str) -> dict[str, Any]:
        refresh = f"xoxe-1-sim-{secrets.token_hex(8)}"
        self.refresh_tokens[refresh] = team_id
        return {"refresh_token": refresh, "expires_in": 43200}

    def _refresh(self, refresh_token: str) -> dict[str, Any]:
        """A rotation: a new bot token and refresh token; the old refresh token is spent."""
        team_id = self.refresh_tokens.pop(refresh_token, None)
        if team_id is None:
            return {"ok": False, "error": "invalid_refresh_token"}
        team = self.teams[team_id]
        return {
            "ok": True,
            "app_id": "A0CASHBOT",
            "token_type": "bot",
            "scope": BOT_SCOPES,
            "access_token": self.issue_bot_token(team_id),
            "bot_user_id": "U0BOT",
            "team": {"id": team.id, "name": team.name},
            **self._rotating(team_id),
        }

    def post_message(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        message = {
            "type": "message",
            "text": params.get("text"),
            "blocks": _json_list(params.get("blocks")),
            "metadata": _json_field(params.get("metadata")) or None,
        }
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
            message["reply_broadcast"] = str(params.get("reply_broadcast", "")).lower() in ("1", "true")
        ts = self._record_message(params["channel"], message)
        return {
            "ok": True,
            "channel": params["channel"],
            "ts": ts,
            "message": {"text": params.get("text"), "ts": ts},
        }

    def _record_message(self, channel: str, message: dict[str, Any]) -> str:
        ts = f"{int(self._clock.now().timestamp())}.{next(self._ts):06d}"
        self.messages.setdefault(channel, []).append({**message, "ts": ts})
        return ts

    def post_ephemeral(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        return {"ok": True, "message_ts": f"{int(self._clock.now().timestamp())}.{next(self._ts):06d}"}

    def update(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        """Edit a posted message in place (its ts, thread and metadata stay)."""
        for message in self.messages.get(str(params.get("channel") or ""), []):
            if message["ts"] == params.get("ts"):
                message.update(text=params.get("text"), blocks=_json_list(params.get("blocks")))
                message["edits"] = int(message.get("edits", 0)) + 1
                break
        else:
            if params.get("ts") and params.get("channel") in self.messages:
                return {"ok": False, "error": "message_not_found"}
        return {
            "ok": True,
            "channel": params.get("channel"),
            "ts": params.get("ts"),
            "text": params.get("text"),
        }

    def views_publish(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        """A member's Home tab; the latest one is kept per user (`home_views`)."""
        answer = self.views(params, token, request)
        self.home_views[str(params.get("user_id") or "")] = answer["view"]
        return answer

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

    def users_list(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        """Every member of the token's team, in one page."""
        team = self._team_of(token)
        members = [
            {"id": u.id, "name": u.name, "is_admin": u.is_admin, "is_owner": u.is_owner, "is_bot": False}
            for u in team.users.values()
        ]
        return {"ok": True, "members": members, "response_metadata": {"next_cursor": ""}}

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
                "is_archived": channel in self.archived,
                "is_member": channel not in self.not_member,
            },
        }

    def conversations_history(
        self, params: dict[str, Any], token: str | None, request: Request
    ) -> dict[str, Any]:
        channel = params.get("channel", "")
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        limit = max(1, min(int(params.get("limit") or 100), 999))
        # Replies stay in their thread unless they were broadcast to the channel, as in Slack.
        in_channel = [m for m in self.messages.get(channel, []) if _in_channel(m)]
        newest_first = list(reversed(in_channel))[:limit]
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        return {
            "ok": True,
            "messages": [
                m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in newest_first
            ],
            "has_more": len(self.messages.get(channel, [])) > limit,
        }

    def conversations_replies(
        self, params: dict[str, Any], token: str | None, request: Request
    ) -> dict[str, Any]:
        channel, ts = params.get("channel", ""), params.get("ts", "")
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        thread = [m for m in self.messages.get(channel, []) if ts in (m["ts"], m.get("thread_ts"))]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": thread, "has_more": False}

    def replies(self, channel_id: str, ts: str) -> list[dict[str, Any]]:
        """The replies in a message's thread, oldest first."""
        return [m for m in self.messages.get(channel_id, []) if m.get("thread_ts") == ts]

    def files_upload_url(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ts):010d}"
        self.files[file_id] = {"name": params["filename"], "content": None, "channels": []}
        return {"ok": True, "upload_url": f"{self.base_url}/_upload/{file_id}", "file_id": file_id}

    def files_complete(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        listed = _json_list(params.get("files"))
        channel = params.get("channel_id")
        for entry in listed:
            file = self.files.get(str(entry.get("id")))
            if file is None or file["content"] is None:
                return {"ok": False, "error": "file_not_found"}
            if channel and channel not in file["channels"]:
                file["channels"].append(channel)
                file["title"] = entry.get("title")
                self._record_message(channel, {"type": "message", "files": [{"id": entry.get("id")}]})
        return {"ok": True, "files": [{"id": entry.get("id")} for entry in listed]}

    def files_info(self, params: dict[str, Any], token: str | None, request: Request) -> dict[str, Any]:
        file = self.files.get(params.get("file", ""))
        if file is None:
            return {"ok": False, "error": "file_not_found"}
        return {
            "ok": True,
            "file": {
                "id": params["file"],
                "name": file["name"],
                "channels": list(file["channels"]),
                "shares": {"public": {c: [{"ts": "0"}] for c in file["channels"]}},
            },
        }


_METHODS = {
    "auth.test": SlackSimulator.auth_test,
    "oauth.v2.access": SlackSimulator.oauth_v2_access,
    "chat.postMessage": SlackSimulator.post_message,
    "chat.postEphemeral": SlackSimulator.post_ephemeral,
    "chat.update": SlackSimulator.update,
    "views.publish": SlackSimulator.views_publish,
    "views.open": SlackSimulator.views,
    "users.info": SlackSimulator.users_info,
    "users.list": SlackSimulator.users_list,
    "conversations.info": SlackSimulator.conversations_info,
    "conversations.history": SlackSimulator.conversations_history,
    "conversations.replies": SlackSimulator.conversations_replies,
    "files.getUploadURLExternal": SlackSimulator.files_upload_url,
    "files.completeUploadExternal": SlackSimulator.files_complete,
    "files.info": SlackSimulator.files_info,
}
_POSTING = frozenset({"chat.postMessage", "files.completeUploadExternal"})


def _in_channel(message: dict[str, Any]) -> bool:
    return not message.get("thread_ts") or bool(message.get("reply_broadcast"))


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


def _json_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    return value if isinstance(value, list) else []


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else None


def _basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password
