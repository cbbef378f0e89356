"""A workspace's digest settings (channel, day, time, timezone) and its broken-subscription mark."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.clock import Clock
from bot.features.digest.schedule import Schedule
from storage import digest_queries as queries
from storage.database import Database
from storage.models import Workspace


@dataclass(frozen=True)
class DigestSettings:
    """What `/cashbot digest` shows and the tick reads."""

    workspace_id: int
    team_id: str
    enabled: bool
    channel_id: str | None
    schedule: Schedule
    since: dt.datetime | None
    broken_at: dt.datetime | None
    broken_reason: str | None
    locale: str | None

    @property
    def active(self) -> bool:
        return self.enabled and self.channel_id is not None and self.broken_at is None


class DigestSettingsStore:
    """Reads and writes the `workspace.digest_*` columns; always from the database (no cache).

    The worker re-reads them every tick, so a change made in any web process counts within a tick.
    """

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def get(self, workspace_id: int) -> DigestSettings:
        async with self._database.read() as session:
            row = await queries.workspace(session, workspace_id)
        return _settings(row)

    async def subscribed(self) -> list[DigestSettings]:
        """Every installed workspace with the digest on, broken or not."""
        async with self._database.read() as session:
            rows = await queries.subscribed_workspaces(session)
            return [_settings(row) for row in rows]

    async def post_here(self, workspace_id: int, channel_id: str, locale: str | None) -> None:
        """Send the digest to this channel from now on (clears a broken mark: a fresh start).

        A channel has many readers: its figures are formatted for whoever chose it (nl-BE, …).
        """
        await self._update(
            workspace_id,
            locale=locale,
            digest_enabled=True,
            digest_channel_id=channel_id,
            digest_since=self._clock.now(),
            digest_broken_at=None,
            digest_broken_reason=None,
        )

    async def turn_off(self, workspace_id: int) -> None:
        await self._update(workspace_id, digest_enabled=False)

    async def set_time(self, workspace_id: int, weekday: int, time: str) -> None:
        await self._update(
            workspace_id, digest_weekday=weekday, digest_time=time, digest_since=self._clock.now()
        )

    async def set_timezone(self, workspace_id: int, timezone: str) -> None:
        await self._update(workspace_id, timezone=timezone, digest_since=self._clock.now())

    async def mark_broken(self, workspace_id: int, channel_id: str, reason: str) -> None:
        """Slack refused this channel for good; only if it is still the digest's channel."""
        async with self._database.write() as session:
            await queries.mark_channel_broken(
                session, workspace_id, channel_id, self._clock.now(), reason[:64]
            )

    async def _update(self, workspace_id: int, **values: object) -> None:
        async with self._database.write() as session:
            await queries.update_workspace(session, workspace_id, **values)


def _settings(row: Workspace) -> DigestSettings:
    return DigestSettings(
        workspace_id=row.id,
        team_id=row.team_id,
        enabled=bool(row.digest_enabled),
        channel_id=row.digest_channel_id,
        schedule=Schedule(row.digest_weekday, row.digest_time, row.timezone),
        since=row.digest_since,
        broken_at=row.digest_broken_at,
        broken_reason=row.digest_broken_reason,
        locale=row.locale,
    )
