"""Send correctly signed Slack requests (slash commands, button clicks, events) to a bot over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.clock import Clock, SystemClock
from bot.sandbox.slack import DEFAULT_TEAM


def sign(secret: str, timestamp: str, body: str | bytes) -> str:
    """Slack's v0 signature of a request body (over its bytes: any bytes can be signed)."""
    raw = body if isinstance(body, bytes) else body.encode()
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackRequests:
    """Acts as Slack toward the bot: builds payloads like Slack's, signs them, posts them."""

    def __init__(
        self,
        bot_url: str,
        signing_secret: str,
        *,
        response_url_factory: Callable[[], str] | None = None,
        team_id: str = DEFAULT_TEAM,
        client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self.events_url = bot_url.rstrip("/") + "/slack/events"
        self.signing_secret = signing_secret
        self.team_id = team_id
        self._response_url = response_url_factory or (lambda: "http://127.0.0.1:9/_response/none")
        self._client = client or httpx.AsyncClient(timeout=10)

    def _epoch(self) -> int:
        return int(self._clock.now().timestamp())

    async def aclose(self) -> None:
        await self._client.aclose()

    def signed_headers(
        self, body: str | bytes, content_type: str, *, timestamp: int | None = None
    ) -> dict[str, str]:
        ts = str(self._epoch() if timestamp is None else timestamp)
        return {
            "content-type": content_type,
            "x-slack-request-timestamp": ts,
            "x-slack-signature": sign(self.signing_secret, ts, body),
        }

    def command_body(
        self,
        command: str,
        text: str = "",
        *,
        user_id: str = "U0ADMIN",
        channel_id: str = "C0FINANCE",
    ) -> str:
        return urlencode(
            {
                "token": "deprecated-verification-token",
                "team_id": self.team_id,
                "team_domain": "cashbot-demo",
                "channel_id": channel_id,
                "channel_name": "finance",
                "user_id": user_id,
                "user_name": user_id.lower(),
                "command": command,
                "text": text,
                "api_app_id": "A0CASHBOT",
                "is_enterprise_install": "false",
                "response_url": self._response_url(),
                "trigger_id": f"{self._epoch()}.trigger.{uuid.uuid4().hex[:8]}",
            }
        )

    async def command(self, command: str, text: str = "", **kwargs: Any) -> httpx.Response:
        """Post a slash command as Slack does; the answer (ack) is the HTTP response."""
        body = self.command_body(command, text, **kwargs)
        return await self.post_raw(body, "application/x-www-form-urlencoded")

    def block_action_body(
        self,
        action_id: str,
        value: str = "",
        *,
        user_id: str = "U0ADMIN",
        channel_id: str = "C0FINANCE",
        message_ts: str = "1700000000.000100",
        ephemeral: bool = True,
    ) -> str:
        payload = {
            "type": "block_actions",
            "team": {"id": self.team_id, "domain": "cashbot-demo"},
            "user": {"id": user_id, "team_id": self.team_id},
            "api_app_id": "A0CASHBOT",
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": ephemeral,
            },
            "trigger_id": f"{self._epoch()}.trigger.{uuid.uuid4().hex[:8]}",
            "channel": {"id": channel_id, "name": "finance"},
            "response_url": self._response_url(),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "actions",
                    "type": "button",
                    "value": value,
                    "action_ts": f"{self._clock.now().timestamp():.6f}",
                }
            ],
        }
        return urlencode({"payload": json.dumps(payload)})

    async def block_action(self, action_id: str, value: str = "", **kwargs: Any) -> httpx.Response:
        """Click a button as Slack reports it."""
        body = self.block_action_body(action_id, value, **kwargs)
        return await self.post_raw(body, "application/x-www-form-urlencoded")

    def event_body(self, event: dict[str, Any], *, event_id: str | None = None) -> str:
        return json.dumps(
            {
                "token": "deprecated-verification-token",
                "team_id": self.team_id,
                "api_app_id": "A0CASHBOT",
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": self._epoch(),
                "authorizations": [{"team_id": self.team_id, "user_id": "U0BOT", "is_bot": True}],
            }
        )

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> httpx.Response:
        """Deliver an Events API callback (optionally marked as Slack's n-th retry)."""
        body = self.event_body(event, event_id=event_id)
        headers = (
            {"x-slack-retry-num": str(retry_num), "x-slack-retry-reason": "http_timeout"} if retry_num else {}
        )
        return await self.post_raw(body, "application/json", extra_headers=headers)

    async def post_raw(
        self,
        body: str | bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Post any body, signed correctly unless a signature is forced."""
        headers = self.signed_headers(body, content_type, timestamp=timestamp)
        if signature is not None:
            headers["x-slack-signature"] = signature
        headers.update(extra_headers or {})
        content = body if isinstance(body, bytes) else body.encode()
        return await self._client.post(self.events_url, content=content, headers=headers)


async def install_through_browser(bot_url: str, *, client: httpx.AsyncClient | None = None) -> httpx.Response:
    """Walk a browser through /slack/install → Slack's authorize page → /slack/oauth_redirect.

    Bolt marks its state cookie Secure; on plain-http loopback a browser would not send it back,
    so it is carried by hand, as a browser on https would.
    """
    browser = client or httpx.AsyncClient(timeout=10)
    try:
        start = await browser.get(f"{bot_url.rstrip('/')}/slack/install")
        if start.status_code != 302:
            return start
        cookie = start.headers.get("set-cookie", "").split(";")[0]
        approve = await browser.get(start.headers["location"])
        if approve.status_code != 302:
            return approve
        return await browser.get(approve.headers["location"], headers={"cookie": cookie})
    finally:
        if client is None:
            await browser.aclose()
