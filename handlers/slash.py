"""Parsing slash-command payloads and answering them safely (ack within Slack's 3 seconds)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slack_bolt.response import BoltResponse

from bot import log_context, metrics
from bot.errors import StorageUnavailable, UserError
from bot.render import Message, Renderer

log = logging.getLogger(__name__)

MAX_TEXT = 4000  # Slack caps slash-command text; anything longer is not from Slack
JSON_HEADERS: dict[str, str | Sequence[str]] = {"content-type": "application/json;charset=utf-8"}


@dataclass(frozen=True)
class CommandRequest:
    """The parts of a slash-command payload cashbot uses."""

    team_id: str
    user_id: str
    channel_id: str
    command: str
    text: str
    response_url: str | None = None
    trigger_id: str | None = None

    @classmethod
    def from_payload(cls, body: dict[str, Any]) -> CommandRequest:
        return cls(
            team_id=str(body.get("team_id") or ""),
            user_id=str(body.get("user_id") or ""),
            channel_id=str(body.get("channel_id") or ""),
            command=str(body.get("command") or ""),
            text=str(body.get("text") or "")[:MAX_TEXT],
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
        )

    @property
    def args(self) -> list[str]:
        return self.text.split()


@dataclass(frozen=True)
class Reply:
    """A message and who sees it."""

    message: Message
    response_type: Literal["ephemeral", "in_channel"] = "ephemeral"

    def as_ack(self) -> dict[str, Any]:
        return {"response_type": self.response_type, **self.message.as_kwargs()}

    def as_response(self) -> BoltResponse:
        """The HTTP answer itself: what ack(**as_ack()) would send, serialised once per message."""
        return BoltResponse(
            status=200, body=self.message.as_response_json(self.response_type), headers=JSON_HEADERS
        )


Ack = Callable[..., Awaitable[None]]


async def answer(renderer: Renderer, command: str, produce: Callable[[], Awaitable[Reply]]) -> BoltResponse:
    """Run `produce`; its reply is the HTTP answer (Bolt sends a listener's returned BoltResponse).

    Any failure becomes a short message, never a trace. The reply's JSON is cached with the
    message, so an answer served from the cache is not serialised again.
    """
    outcome = "ok"
    started = time.perf_counter()
    try:
        with log_context.bind(command=command):
            reply = await produce()
    except StorageUnavailable:
        outcome = "unavailable"
        reply = Reply(renderer.message("unavailable.json.j2"))
    except UserError as error:
        outcome = "user_error"
        reply = Reply(renderer.message("user_error.json.j2", message=str(error)))
    except Exception:
        outcome = "error"
        reference = secrets.token_hex(4)
        log.exception("command.failed", extra={"command": command, "reference": reference})
        reply = Reply(renderer.message("internal_error.json.j2", reference=reference))
    metrics.SLACK_COMMANDS.labels(command=command, outcome=outcome).inc()
    metrics.COMMAND_SECONDS.labels(command).observe(time.perf_counter() - started)
    return reply.as_response()
