"""Who may do what: managing connections is for admins, the installer and whoever connected a provider."""

from __future__ import annotations

from sqlalchemy import select

from bot.domain import Actor
from storage.database import Database
from storage.models import Connection, Workspace


class AccessService:
    """Answers permission questions about a Slack user in a workspace."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def managers(self, workspace_id: int) -> set[str]:
        """User ids (besides workspace admins) who may manage cashbot here."""
        async with self._database.read() as session:
            installer = (
                await session.execute(
                    select(Workspace.installed_by_user_id).where(Workspace.id == workspace_id)
                )
            ).scalar_one_or_none()
            connectors = (
                await session.execute(
                    select(Connection.connected_by_user_id).where(
                        Connection.workspace_id == workspace_id, Connection.connected_by_user_id.is_not(None)
                    )
                )
            ).scalars()
            return {user for user in (installer, *connectors) if user}

    async def can_manage(self, actor: Actor, workspace_id: int) -> bool:
        """Connecting or disconnecting a bank or the books is a high-risk change: admins and managers only."""
        return actor.is_admin or actor.user_id in await self.managers(workspace_id)
