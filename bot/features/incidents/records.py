"""Incident rows as plain facts, and the alert channel a workspace chose."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import Incident, Workspace

# `/cashbot alerts off` is stored in alert_channel_id itself: Slack channel ids are never "off".
ALERTS_OFF = "off"


@dataclass(frozen=True)
class IncidentFacts:
    """An incident as the messages and the Home tab show it."""

    id: int
    workspace_id: int
    provider: str
    kind: str
    first_failed_at: dt.datetime
    last_failed_at: dt.datetime
    failures: int
    error_code: str | None
    opened_at: dt.datetime | None
    channel_id: str | None
    updates: int
    reminders: int
    resolved_at: dt.datetime | None

    @property
    def opened_key(self) -> str:
        return f"alert:{self.id}:opened"

    @classmethod
    def of(cls, row: Incident) -> IncidentFacts:
        return cls(
            id=row.id,
            workspace_id=row.workspace_id,
            provider=row.provider,
            kind=row.kind,
            first_failed_at=row.first_failed_at,
            last_failed_at=row.last_failed_at,
            failures=row.failures,
            error_code=row.error_code,
            opened_at=row.opened_at,
            channel_id=row.channel_id,
            updates=row.updates,
            reminders=row.reminders,
            resolved_at=row.resolved_at,
        )


@dataclass(frozen=True)
class AlertChannel:
    """Where a workspace's alerts go: its own choice, else the digest's channel; None when off."""

    chosen: str | None
    digest: str | None

    @property
    def off(self) -> bool:
        return self.chosen == ALERTS_OFF

    @property
    def channel_id(self) -> str | None:
        if self.off:
            return None
        return self.chosen or self.digest


async def alert_channel(session: AsyncSession, workspace_id: int) -> AlertChannel:
    row = await session.get_one(Workspace, workspace_id)
    return AlertChannel(row.alert_channel_id, row.digest_channel_id)


async def set_alert_channel(database: Database, workspace_id: int, channel_id: str) -> None:
    """A channel id, or ALERTS_OFF."""
    async with database.write() as session:
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


async def open_incidents(database: Database, workspace_id: int | None = None) -> list[IncidentFacts]:
    """Unresolved incidents that were posted (or were due to be), oldest first."""
    async with database.read() as session:
        query = select(Incident).where(Incident.resolved_at.is_(None), Incident.opened_at.is_not(None))
        if workspace_id is not None:
            query = query.where(Incident.workspace_id == workspace_id)
        rows = await session.scalars(query.order_by(Incident.id))
        return [IncidentFacts.of(row) for row in rows]


async def get(database: Database, incident_id: int) -> IncidentFacts | None:
    async with database.read() as session:
        row = await session.get(Incident, incident_id)
        return None if row is None else IncidentFacts.of(row)
