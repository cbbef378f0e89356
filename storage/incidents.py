"""Incident rows: at most one unresolved per workspace and subject, locked while a step is written."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import affected_rows
from storage.models import Incident, Workspace


async def workspace_channels(session: AsyncSession, workspace_id: int) -> tuple[str | None, str | None]:
    """The workspace's chosen alert channel (or "off") and its digest channel."""
    row = await session.get_one(Workspace, workspace_id)
    return row.alert_channel_id, row.digest_channel_id


async def set_alert_channel(session: AsyncSession, workspace_id: int, channel_id: str) -> None:
    await session.execute(
        update(Workspace).where(Workspace.id == workspace_id).values(alert_channel_id=channel_id[:32])
    )


async def unresolved(session: AsyncSession, workspace_id: int, subject: str) -> Incident | None:
    """The unresolved incident of a subject, locked for this transaction (on PostgreSQL)."""
    return (
        await session.scalars(
            select(Incident)
            .where(
                Incident.workspace_id == workspace_id,
                Incident.subject == subject,
                Incident.resolved_at.is_(None),
            )
            .with_for_update()
        )
    ).one_or_none()


def add_incident(session: AsyncSession, row: Incident) -> None:
    session.add(row)


async def unresolved_incidents(
    session: AsyncSession, *, posted: bool, workspace_id: int | None = None
) -> Sequence[Incident]:
    """Unresolved incidents that were posted (or were due to be), or those not yet posted; oldest first."""
    opened = Incident.opened_at.is_not(None) if posted else Incident.opened_at.is_(None)
    query = select(Incident).where(Incident.resolved_at.is_(None), opened)
    if workspace_id is not None:
        query = query.where(Incident.workspace_id == workspace_id)
    return (await session.scalars(query.order_by(Incident.id))).all()


async def incident(session: AsyncSession, incident_id: int) -> Incident | None:
    return await session.get(Incident, incident_id)


def _unresolved_of(
    workspace_id: int, provider: str, kinds: Collection[str]
) -> tuple[ColumnElement[bool], ...]:
    return (
        Incident.workspace_id == workspace_id,
        Incident.provider == provider,
        Incident.kind.in_(tuple(kinds)),
        Incident.resolved_at.is_(None),
    )


async def any_unresolved(
    session: AsyncSession, workspace_id: int, provider: str, kinds: Collection[str]
) -> bool:
    """Whether the provider has an unresolved incident of one of these kinds."""
    where = _unresolved_of(workspace_id, provider, kinds)
    return await session.scalar(select(Incident.id).where(*where).limit(1)) is not None


async def lock_unresolved(
    session: AsyncSession, workspace_id: int, provider: str, kinds: Collection[str]
) -> Sequence[Incident]:
    """The provider's unresolved incidents of these kinds, locked for this transaction."""
    where = _unresolved_of(workspace_id, provider, kinds)
    return (await session.scalars(select(Incident).where(*where).with_for_update())).all()


async def count_reminder(session: AsyncSession, incident_id: int, seen: int) -> Incident | None:
    """One more reminder if the count is still `seen`; the fresh row, None when another worker was first."""
    moved = await session.execute(
        update(Incident)
        .where(Incident.id == incident_id, Incident.reminders == seen)
        .values(reminders=seen + 1)
    )
    if affected_rows(moved) != 1:
        return None
    return await session.get_one(Incident, incident_id)
