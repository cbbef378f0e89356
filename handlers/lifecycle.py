"""Slack events about the app itself: uninstall and token revocation; retries have one effect."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from bot.errors import StorageUnavailable
from bot.services.events import EventReceipts
from bot.services.workspaces import WorkspaceService

log = logging.getLogger(__name__)


def register(app: AsyncApp, workspaces: WorkspaceService, receipts: EventReceipts) -> None:
    """Wire the uninstall/revocation listeners and the event de-duplication middleware."""

    @app.middleware
    async def skip_duplicate_events(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> Any:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not await receipts.first_delivery(str(event_id)):
            log.info("slack.event_duplicate", extra={"event_id": event_id})
            return BoltResponse(status=200, body="")
        return await next()

    @app.middleware
    async def know_the_workspace(context: Any, next: Callable[[], Awaitable[None]]) -> Any:
        """Put the workspace row id in the context; a database outage is left to the listeners."""
        team_id = context.get("team_id")
        context["workspace_id"] = None
        if team_id:
            try:
                context["workspace_id"] = await workspaces.workspace_id(team_id)
            except StorageUnavailable:
                log.warning("workspace.lookup_unavailable", extra={"team_id": team_id})
        return await next()

    @app.event("app_uninstalled")
    async def on_uninstalled(body: dict[str, Any]) -> None:
        await workspaces.uninstalled(str(body.get("team_id") or ""))

    @app.event("tokens_revoked")
    async def on_tokens_revoked(body: dict[str, Any], event: dict[str, Any]) -> None:
        tokens = event.get("tokens") or {}
        await workspaces.tokens_revoked(
            str(body.get("team_id") or ""),
            user_ids=list(tokens.get("oauth") or []),
            bot_revoked=bool(tokens.get("bot")),
        )
