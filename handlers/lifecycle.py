"""Slack events about the app itself: uninstall and token revocation, each handled once."""

from __future__ import annotations

from typing import Any

from bot.features.events import EventReceipts
from bot.features.workspaces import WorkspaceService
from handlers.listeners import Listeners


def register(on: Listeners, workspaces: WorkspaceService, receipts: EventReceipts) -> None:
    """Wire the uninstall and revocation listeners.

    Each records its event as handled only after its effect is committed: a failure answers 5xx
    and Slack's retry runs it again (the effects are idempotent), while a retry of an event that
    succeeded is answered by request_context without running anything.
    """

    async def on_uninstalled(body: dict[str, Any]) -> None:
        await workspaces.uninstalled(str(body.get("team_id") or ""))
        await _handled(receipts, body)

    async def on_tokens_revoked(body: dict[str, Any], event: dict[str, Any]) -> None:
        tokens = event.get("tokens") or {}
        await workspaces.tokens_revoked(
            str(body.get("team_id") or ""),
            user_ids=list(tokens.get("oauth") or []),
            bot_revoked=bool(tokens.get("bot")),
        )
        await _handled(receipts, body)

    on.event("app_uninstalled", on_uninstalled)
    on.event("tokens_revoked", on_tokens_revoked)


async def _handled(receipts: EventReceipts, body: dict[str, Any]) -> None:
    if body.get("event_id"):
        await receipts.remember(str(body["event_id"]))
