"""Connection rows: one per workspace and provider, with sealed credentials, state and a refresh lock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import ConnectionState
from storage.database import affected_rows
from storage.models import Connection, Workspace
from storage.workspaces import with_team_id


async def connection_for_update(session: AsyncSession, workspace_id: int, provider: str) -> Connection:
    """The workspace's connection row for `provider`, added (empty, version 0) when there is none."""
    row = (
        await session.execute(
            select(Connection).where(Connection.workspace_id == workspace_id, Connection.provider == provider)
        )
    ).scalar_one_or_none()
    if row is None:
        row = Connection(workspace_id=workspace_id, provider=provider, version=0, consecutive_failures=0)
        session.add(row)
    return row


async def team_id(session: AsyncSession, workspace_id: int) -> str:
    return str(
        (await session.execute(select(Workspace.team_id).where(Workspace.id == workspace_id))).scalar_one()
    )


async def connection_with_team(
    session: AsyncSession,
    *,
    connection_id: int | None = None,
    workspace_id: int | None = None,
    provider: str | None = None,
) -> tuple[Connection, str] | None:
    """The connection (by id, or by workspace and provider) with its workspace's team id."""
    where: list[ColumnElement[bool]] = []
    if connection_id is not None:
        where.append(Connection.id == connection_id)
    if workspace_id is not None:
        where.append(Connection.workspace_id == workspace_id)
    if provider is not None:
        where.append(Connection.provider == provider)
    return await with_team_id(session, Connection, Connection.workspace_id, *where)


async def swap_credentials(
    session: AsyncSession,
    connection_id: int,
    expected_version: int,
    sealed: str,
    token_expires_at: dt.datetime | None,
) -> bool:
    """Store new credentials (next version) only if the row is still at `expected_version`."""
    result = await session.execute(
        update(Connection)
        .where(Connection.id == connection_id, Connection.version == expected_version)
        .values(
            credentials=sealed,
            version=Connection.version + 1,
            token_expires_at=token_expires_at,
            refresh_lock_owner=None,
            refresh_lock_until=None,
        )
    )
    return affected_rows(result) == 1


async def claim_refresh(
    session: AsyncSession, connection_id: int, owner: str, now: dt.datetime, ttl: dt.timedelta
) -> bool:
    """Take the refresh lock if it is free, expired or already `owner`'s."""
    result = await session.execute(
        update(Connection)
        .where(
            Connection.id == connection_id,
            or_(
                Connection.refresh_lock_until.is_(None),
                Connection.refresh_lock_until < now,
                Connection.refresh_lock_owner == owner,
            ),
        )
        .values(refresh_lock_owner=owner, refresh_lock_until=now + ttl)
    )
    return affected_rows(result) == 1


async def release_refresh(session: AsyncSession, connection_id: int, owner: str) -> None:
    await session.execute(
        update(Connection)
        .where(Connection.id == connection_id, Connection.refresh_lock_owner == owner)
        .values(refresh_lock_owner=None, refresh_lock_until=None)
    )


async def mark(
    session: AsyncSession,
    connection_id: int,
    values: dict[str, Any],
    *,
    failed: bool,
    only_version: int | None,
) -> bool:
    """Set `values` on a connection not disconnected (and at `only_version`); a failure counts one more."""
    if failed:
        values = {**values, "consecutive_failures": Connection.consecutive_failures + 1}
    where = [Connection.id == connection_id, Connection.state != ConnectionState.DISCONNECTED.value]
    if only_version is not None:
        where.append(Connection.version == only_version)
    result = await session.execute(update(Connection).where(*where).values(values))
    return affected_rows(result) == 1


async def record_success(
    session: AsyncSession, connection_id: int, now: dt.datetime, states: Sequence[str]
) -> None:
    """A sync succeeded: active again, failures forgotten (only from one of `states`)."""
    await session.execute(
        update(Connection)
        .where(Connection.id == connection_id, Connection.state.in_(states))
        .values(
            state=ConnectionState.ACTIVE.value,
            last_attempt_at=now,
            last_success_at=now,
            consecutive_failures=0,
        )
    )


async def update_connection(session: AsyncSession, connection_id: int, values: dict[str, Any]) -> None:
    await session.execute(update(Connection).where(Connection.id == connection_id).values(values))


async def disconnect(session: AsyncSession, workspace_id: int, provider: str) -> None:
    """Drop the credentials, mark it disconnected and bump the version (a refresh in flight loses)."""
    await session.execute(
        update(Connection)
        .where(Connection.workspace_id == workspace_id, Connection.provider == provider)
        .values(
            credentials=None,
            state=ConnectionState.DISCONNECTED.value,
            version=Connection.version + 1,
            token_expires_at=None,
            refresh_lock_owner=None,
            refresh_lock_until=None,
        )
    )


async def connections_in(
    session: AsyncSession, states: Sequence[str], provider: str | None, team_id: str | None
) -> list[tuple[Connection, str]]:
    """Installed workspaces' connections in one of `states` (of a provider, a team), with team ids."""
    query = (
        select(Connection, Workspace.team_id)
        .join(Workspace, Workspace.id == Connection.workspace_id)
        .where(Connection.state.in_(states), Workspace.uninstalled_at.is_(None))
        .order_by(Connection.id)
    )
    if provider is not None:
        query = query.where(Connection.provider == provider)
    if team_id is not None:
        query = query.where(Workspace.team_id == team_id)
    return [(row, team) for row, team in (await session.execute(query)).all()]
