"""Slack events about the app itself: uninstall and token revocation."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.services.workspaces import WorkspaceService


def register(app: AsyncApp, workspaces: WorkspaceService) -> None:
    """Wire the uninstall and revocation listeners (retries are filtered by request_context)."""

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
