"""Incident rows as plain facts, and the alert channel a workspace chose."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from storage import incidents as queries
from storage.database import Database, Session
from storage.models import Incident

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


async def alert_channel(session: Session, workspace_id: int) -> AlertChannel:
    return AlertChannel(*await queries.workspace_channels(session, workspace_id))


async def set_alert_channel(database: Database, workspace_id: int, channel_id: str) -> None:
    """A channel id, or ALERTS_OFF."""
    async with database.write() as session:
        await queries.set_alert_channel(session, workspace_id, channel_id)


async def open_incidents(database: Database, workspace_id: int | None = None) -> list[IncidentFacts]:
    """Unresolved incidents that were posted (or were due to be), oldest first."""
    async with database.read() as session:
        rows = await queries.unresolved_incidents(session, posted=True, workspace_id=workspace_id)
        return [IncidentFacts.of(row) for row in rows]


async def get(database: Database, incident_id: int) -> IncidentFacts | None:
    async with database.read() as session:
        row = await queries.incident(session, incident_id)
        return None if row is None else IncidentFacts.of(row)
