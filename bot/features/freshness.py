"""How fresh each source of the figures is (Ponto, Yuki): synced when, stale, failing, or needing a person."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.domain import ConnectionState
from bot.providers import registry
from storage.database import Database
from storage.reports import SourceRow
from storage.workspaces import workspace_timezone

NOT_CONNECTED = "not_connected"
TIMEZONE_SECONDS = 600.0


@dataclass(frozen=True)
class SourceStatus:
    """One provider as the footer of a report shows it."""

    provider: str
    title: str
    state: str  # a ConnectionState value, or "not_connected"
    last_success_at: dt.datetime | None
    stale: bool
    error_code: str | None

    @property
    def connected(self) -> bool:
        return self.state not in (NOT_CONNECTED, ConnectionState.DISCONNECTED.value)

    @property
    def needs_reconnect(self) -> bool:
        return self.state == ConnectionState.NEEDS_REAUTH.value

    @property
    def failing(self) -> bool:
        return self.state == ConnectionState.FAILING.value


def source_statuses(
    rows: Iterable[SourceRow], now: dt.datetime, stale_after: dt.timedelta
) -> tuple[SourceStatus, ...]:
    """Each installed provider in registry order, connected or not; stale after `stale_after`."""
    found = {row.provider: row for row in rows}
    statuses = []
    titles = registry.titles()
    for provider, title in titles.items():
        row = found.get(provider)
        if row is None:
            statuses.append(SourceStatus(provider, title, NOT_CONNECTED, None, False, None))
            continue
        stale = row.last_success_at is None or now - row.last_success_at > stale_after
        statuses.append(
            SourceStatus(provider, title, row.state, row.last_success_at, stale, row.last_error_code)
        )
    return tuple(statuses)


class WorkspaceCalendar:
    """Today's date in a workspace's timezone (the books' day), with the timezone cached per process."""

    def __init__(
        self,
        database: Database,
        default_timezone: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._default = default_timezone
        self._clock = clock
        self._zones: dict[int, tuple[float, zoneinfo.ZoneInfo]] = {}

    async def zone(self, workspace_id: int) -> zoneinfo.ZoneInfo:
        cached = self._zones.get(workspace_id)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        async with self._database.read() as session:
            name = await workspace_timezone(session, workspace_id)
        try:
            zone = zoneinfo.ZoneInfo(name or self._default)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo(self._default)
        self._zones[workspace_id] = (self._clock() + TIMEZONE_SECONDS, zone)
        return zone

    async def today(self, workspace_id: int, now: dt.datetime) -> dt.date:
        return now.astimezone(await self.zone(workspace_id)).date()
