"""POST /slack/events: refuse forged, stale or malformed requests, then hand the rest to Bolt.

Our own check runs before Bolt so a bad request is refused without Bolt ever logging its body.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot import log_context, metrics
from bot.clock import Clock

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


class SlackEndpoint:
    """Verifies the signature and the body's shape, then dispatches to Bolt."""

    def __init__(
        self,
        app: AsyncApp,
        signing_secret: str,
        *,
        clock: Clock,
    ) -> None:
        self._app = app
        self._verifier = SignatureVerifier(signing_secret, clock=_EpochClock(clock))

    async def handle(self, request: Request) -> Response:
        body = await _read_capped(request)
        if body is None:
            return _refuse("too_large", 413)
        if not self._signed_by_slack(body, request):
            return _refuse("bad_signature", 401)
        if not _well_formed(body, request.headers.get("content-type", "")):
            return _refuse("malformed", 400)
        bolt_request = to_async_bolt_request(request, body)
        with log_context.bind(workspace=bolt_request.context.team_id):
            answer = await self._app.async_dispatch(bolt_request)
        return to_starlette_response(answer)

    def _signed_by_slack(self, body: bytes, request: Request) -> bool:
        try:
            return bool(self._verifier.is_valid_request(body, dict(request.headers)))
        except ValueError:  # a timestamp that is not a number
            return False


class _EpochClock(SlackClock):
    """slack_sdk's Clock (epoch seconds) over ours, so the 5-minute window follows the one clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None past MAX_BODY_BYTES (checked as it arrives: nobody can make us buffer more)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def _refuse(reason: str, status: int) -> Response:
    metrics.SLACK_REJECTED.labels(reason=reason).inc()
    log.warning("slack.request_refused", extra={"reason": reason, "status": status})
    return JSONResponse({"error": "invalid request"}, status_code=status)


def _well_formed(body: bytes, content_type: str) -> bool:
    """True for a form Slack sends (a command, ssl_check, or JSON-object `payload`) or a JSON object."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            return isinstance(json.loads(text), dict)
        if content_type.startswith("application/x-www-form-urlencoded") and _FORM.fullmatch(text):
            if _FIELD_PAYLOAD.search(text) is None:  # a slash command: the busy path, no parsing here
                return _FIELD_COMMAND.search(text) is not None
            payloads = parse_qs(text, keep_blank_values=True).get("payload") or ["null"]
            return isinstance(json.loads(payloads[0]), dict)
    except (UnicodeDecodeError, ValueError):
        return False
    return False


# key=value pairs joined by & (what parse_qs accepts strictly); the fields that tell Slack's forms.
_FORM = re.compile(r"[^&=]+=[^&]*(?:&[^&=]+=[^&]*)*")
_FIELD_PAYLOAD = re.compile(r"(?:^|&)payload=")
_FIELD_COMMAND = re.compile(r"(?:^|&)(?:command|ssl_check)=")
