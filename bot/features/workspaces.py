"""Workspace life cycle: known on first contact, forgotten on uninstall."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from storage.database import Database
from storage.workspaces import delete_slack_tokens, ensure_workspace, find_workspace, forget_workspace

log = logging.getLogger(__name__)


class WorkspaceService:
    """Creates workspace rows and deletes a workspace's tokens and data when Slack says so."""

    def __init__(self, database: Database, default_timezone: str) -> None:
        self._database = database
        self._default_timezone = default_timezone
        self._known: dict[str, int] = {}
        self._forgotten: list[Callable[[int, str], Awaitable[None]]] = []
        self._leaving: list[Callable[[int], Awaitable[None]]] = []

    def on_uninstalling(self, listener: Callable[[int], Awaitable[None]]) -> None:
        """Call `listener(workspace_id)` before an uninstall purge (to revoke grants at providers).

        Listeners must not raise; the purge happens whatever they manage.
        """
        self._leaving.append(listener)

    def on_uninstalled(self, listener: Callable[[int, str], Awaitable[None]]) -> None:
        """Call `listener(workspace_id, team_id)` after an uninstall purge (to drop caches)."""
        self._forgotten.append(listener)

    async def workspace_id(self, team_id: str) -> int:
        """The id of the workspace row for a team, created on first contact (cached)."""
        cached = self._known.get(team_id)
        if cached is not None:
            return cached
        async with self._database.write() as session:
            workspace = await ensure_workspace(session, team_id, timezone=self._default_timezone)
            workspace_id = workspace.id
        self._known[team_id] = workspace_id
        return workspace_id

    async def uninstalled(self, team_id: str) -> None:
        """The app was removed: delete tokens, credentials and financial data (idempotent)."""
        self._known.pop(team_id, None)
        async with self._database.read() as session:
            workspace = await find_workspace(session, team_id)
        if workspace is not None and workspace.uninstalled_at is None:
            for revoke in self._leaving:
                await revoke(workspace.id)
        async with self._database.write() as session:
            workspace_id = await forget_workspace(session, team_id)
        log.info("workspace.forgotten", extra={"team_id": team_id, "known": workspace_id is not None})
        if workspace_id is not None:
            for forget in self._forgotten:
                await forget(workspace_id, team_id)

    async def tokens_revoked(self, team_id: str, user_ids: list[str], bot_revoked: bool) -> None:
        """Some tokens were revoked; a revoked bot token means the workspace is gone for us."""
        if bot_revoked:
            await self.uninstalled(team_id)
            return
        async with self._database.write() as session:
            await delete_slack_tokens(session, team_id, user_ids)
        log.info("slack.user_tokens_revoked", extra={"team_id": team_id, "users": len(user_ids)})
