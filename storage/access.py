"""Access rows: who installed and connected (the managers), who was granted, where answers may be public."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import ConstraintViolation
from storage.database import Database, affected_rows
from storage.models import AccessGrant, Connection, Workspace


async def _workspace_value(session: AsyncSession, workspace_id: int, column: Any) -> str | None:
    found = await session.execute(select(column).where(Workspace.id == workspace_id))
    return cast("str | None", found.scalar_one_or_none())


async def installer(session: AsyncSession, workspace_id: int) -> str | None:
    return await _workspace_value(session, workspace_id, Workspace.installed_by_user_id)


async def connectors(session: AsyncSession, workspace_id: int) -> list[str]:
    """The users who connected one of the workspace's providers."""
    rows = await session.execute(
        select(Connection.connected_by_user_id).where(
            Connection.workspace_id == workspace_id, Connection.connected_by_user_id.is_not(None)
        )
    )
    return [user for user in rows.scalars() if user]


async def granted_users(session: AsyncSession, workspace_id: int) -> list[str]:
    rows = await session.execute(
        select(AccessGrant.slack_user_id).where(AccessGrant.workspace_id == workspace_id)
    )
    return list(rows.scalars())


async def public_channels(session: AsyncSession, workspace_id: int) -> str | None:
    """The stored JSON list of channels where answers may be public."""
    return await _workspace_value(session, workspace_id, Workspace.public_channel_ids)


async def grants(session: AsyncSession, workspace_id: int) -> Sequence[AccessGrant]:
    """The workspace's grants, oldest first."""
    rows = await session.execute(
        select(AccessGrant)
        .where(AccessGrant.workspace_id == workspace_id)
        .order_by(AccessGrant.created_at, AccessGrant.id)
    )
    return rows.scalars().all()


async def add_grant(
    database: Database, workspace_id: int, user_id: str, granted_by: str, now: dt.datetime
) -> bool:
    """Grant in its own transaction; False when the user already had a grant."""
    grant = AccessGrant(
        workspace_id=workspace_id, slack_user_id=user_id, granted_by_user_id=granted_by, created_at=now
    )
    try:
        async with database.write() as session:
            session.add(grant)
    except ConstraintViolation:
        return False
    return True


async def delete_grant(session: AsyncSession, workspace_id: int, user_id: str) -> bool:
    """Delete the user's grant; False when there was none."""
    result = await session.execute(
        delete(AccessGrant).where(
            AccessGrant.workspace_id == workspace_id, AccessGrant.slack_user_id == user_id
        )
    )
    return affected_rows(result) == 1


async def workspace_for_update(session: AsyncSession, workspace_id: int) -> Workspace:
    """The workspace row, locked for the rest of the transaction (PostgreSQL)."""
    return (
        await session.execute(select(Workspace).where(Workspace.id == workspace_id).with_for_update())
    ).scalar_one()
