"""Bolt's last-resort error handler: a short answer for people, a log line without the body."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.response import BoltResponse

from bot.errors import BadRequest, StorageUnavailable
from bot.render import Renderer
from handlers.listeners import Listeners

log = logging.getLogger(__name__)


def register(on: Listeners, renderer: Renderer) -> None:
    async def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
        if isinstance(error, BadRequest):  # a listener found the request unanswerable: not a bug
            log.warning("slack.request_refused", extra={"reason": error.reason, "status": 400})
            return BoltResponse(status=400, body="")
        unavailable = isinstance(error, StorageUnavailable)
        if not unavailable:
            log.error(
                "slack.unhandled_error",
                extra={"error": type(error).__name__, "detail": str(error)[:300]},
            )
        if body.get("command"):
            template = "unavailable.json.j2" if unavailable else "internal_error.json.j2"
            message = renderer.message(template, reference="bolt")
            payload = {"response_type": "ephemeral", **message.as_kwargs()}
            return BoltResponse(
                status=200, body=json.dumps(payload), headers={"content-type": "application/json"}
            )
        # Events and actions: a 5xx makes Slack retry later, when the database may be back.
        return BoltResponse(status=503 if unavailable else 500, body="")

    on.error(on_error)
