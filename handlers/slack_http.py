"""POST /slack/events: refuse forged, stale or malformed requests, then hand the rest to Bolt.

Our own check runs before Bolt so a bad request is refused without Bolt ever logging its body.
The signature is checked over the raw bytes (a body that is not UTF-8 is still Slack's when it is
signed: it is then refused as malformed, 400, not as forged). A signed body that is not of a shape
Slack sends is a `BadRequest`, refused 400 with its reason, never a 500 with a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot import log_context, metrics
from bot.clock import Clock
from bot.errors import BadRequest
from handlers.slack_shape import check_payload

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
WINDOW_SECONDS = 60 * 5


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
        self._secret = signing_secret.encode()
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        body = await _read_capped(request)
        if body is None:
            return _refuse("too_large", 413)
        if not self._signed_by_slack(body, request):
            return _refuse("bad_signature", 401)
        try:
            _check_body(body, request.headers.get("content-type", ""))
        except BadRequest as refused:
            return _refuse(refused.reason, 400)
        bolt_request = to_async_bolt_request(request, body)
        with log_context.bind(workspace=bolt_request.context.team_id):
            answer = await self._app.async_dispatch(bolt_request)
        return to_starlette_response(answer)

    def _signed_by_slack(self, body: bytes, request: Request) -> bool:
        """Slack's v0 HMAC-SHA256 over the raw bytes, within the 5-minute window of our clock."""
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not timestamp.isascii() or not timestamp.isdigit() or not signature:
            return False
        if abs(self._clock.now().timestamp() - int(timestamp)) > WINDOW_SECONDS:
            return False
        signed = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self._secret, signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


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


def _check_body(body: bytes, content_type: str) -> None:
    """A form Slack sends (a command, ssl_check, or JSON-object `payload`) or a JSON object, of
    Slack's shape; BadRequest with the reason otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("not_utf8") from None
    if content_type.startswith("application/json"):
        check_payload(_json_object(text))
    elif content_type.startswith("application/x-www-form-urlencoded") and _FORM.fullmatch(text):
        if _FIELD_PAYLOAD.search(text) is None:  # a slash command: the busy path, no parsing here
            if _FIELD_COMMAND.search(text) is None:
                raise BadRequest("malformed")
            return
        payloads = parse_qs(text, keep_blank_values=True).get("payload") or ["null"]
        check_payload(_json_object(payloads[0]))
    else:
        raise BadRequest("malformed")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise BadRequest("malformed") from None
    if not isinstance(value, dict):
        raise BadRequest("malformed")
    return value


# key=value pairs joined by & (what parse_qs accepts strictly); the fields that tell Slack's forms.
_FORM = re.compile(r"[^&=]+=[^&]*(?:&[^&=]+=[^&]*)*")
_FIELD_PAYLOAD = re.compile(r"(?:^|&)payload=")
_FIELD_COMMAND = re.compile(r"(?:^|&)(?:command|ssl_check)=")
