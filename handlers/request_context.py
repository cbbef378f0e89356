"""One Bolt middleware that prepares every request: retried events end here, people get an Actor.

Bolt builds the keyword arguments of each middleware on every request, so the jobs are done in
one middleware rather than three:
- an Events API delivery already handled (Slack retries) is answered 200 at once, with no effect
  (listeners record an event as handled once they succeeded: `handlers.lifecycle`);
- a request from a person (command, button, modal) gets `context["workspace_id"]` and
  `context["actor"]` (admin flag, locale, timezone; users.info, cached). A database outage is
  left to the listeners, which answer "temporarily unavailable".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import StorageUnavailable
from bot.features.events import EventReceipts
from bot.features.workspaces import WorkspaceService
from handlers.actor import ActorDirectory
from handlers.listeners import Listeners

log = logging.getLogger(__name__)

PERSON_PAYLOADS = ("block_actions", "view_submission", "shortcut", "message_action")


def register(
    on: Listeners, workspaces: WorkspaceService, receipts: EventReceipts, actors: ActorDirectory
) -> None:
    async def prepare(
        body: dict[str, Any], context: Any, client: AsyncWebClient, next: Callable[[], Awaitable[None]]
    ) -> Any:
        if body.get("type") == "event_callback":
            event_id = body.get("event_id")
            if event_id and await receipts.handled(str(event_id)):
                log.info("slack.event_duplicate", extra={"event_id": event_id})
                return BoltResponse(status=200, body="")
            return await next()
        context["workspace_id"] = None
        team_id, user_id = context.get("team_id"), context.get("user_id")
        if team_id and ("command" in body or body.get("type") in PERSON_PAYLOADS):
            context["workspace_id"] = await _workspace_id(workspaces, team_id)
            if user_id:
                context["actor"] = await actors.actor(client, team_id, user_id)
        return await next()

    on.middleware(prepare)


async def _workspace_id(workspaces: WorkspaceService, team_id: str) -> int | None:
    try:
        return await workspaces.workspace_id(team_id)
    except StorageUnavailable:
        log.warning("workspace.lookup_unavailable", extra={"team_id": team_id})
        return None
