"""The digest tick: which workspaces are due now (by the injected clock), sync them, compose, enqueue.

APScheduler only wakes this up every half minute; whether a digest is due is decided here, from
the clock and the settings read afresh from the database, so a change made in any web process
counts at the next tick and the clock can be moved in tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bot.clock import Clock
from bot.errors import ConstraintViolation
from bot.features.digest.compose import Digest, DigestComposer
from bot.features.digest.schedule import Occurrence, latest, local_date
from bot.features.digest.settings import DigestSettings, DigestSettingsStore
from storage import digest_queries as queries
from storage.database import Database
from storage.models import DigestRun
from storage.outbox import Envelope, enqueue

log = logging.getLogger(__name__)

LATE_AFTER = dt.timedelta(minutes=10)
SYNC_DEADLINE_SECONDS = 120.0
ENQUEUED = "enqueued"
MISSED = "missed"

Render = Callable[[Digest, DigestSettings], Awaitable[Sequence[Envelope]]]
SyncWorkspace = Callable[[str], Awaitable[object]]


def digest_key(team_id: str, period_key: str) -> str:
    return f"digest:{team_id}:{period_key}"


@dataclass
class TickReport:
    """What one tick did."""

    enqueued: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)


class DigestRunner:
    """Decides what is due and hands it to the outbox, once per workspace and period."""

    def __init__(
        self,
        database: Database,
        settings: DigestSettingsStore,
        composer: DigestComposer,
        render: Render,
        sync: SyncWorkspace,
        clock: Clock,
        *,
        concurrency: int = 8,
    ) -> None:
        self._database = database
        self._settings = settings
        self._composer = composer
        self._render = render
        self._sync = sync
        self._clock = clock
        self._gate = asyncio.Semaphore(concurrency)

    async def tick(self) -> TickReport:
        now = self._clock.now()
        report = TickReport()
        candidates = [
            (s, occurrence)
            for s in await self._settings.subscribed()
            if s.active and (occurrence := latest(s.schedule, now)) and _counts(s, occurrence)
        ]
        done = await self._already_recorded(candidates)
        due = []
        for settings, occurrence in candidates:
            if (settings.workspace_id, occurrence.period_key) in done:
                continue
            if local_date(now, settings.schedule.timezone) != occurrence.local_date:
                if await self._record_missed(settings, occurrence):
                    report.missed.append(settings.team_id)
                continue
            due.append((settings, occurrence))
        results = await asyncio.gather(*(self._one(s, o, now) for s, o in due))
        report.enqueued.extend(team for team in results if team is not None)
        return report

    async def _one(self, settings: DigestSettings, occurrence: Occurrence, now: dt.datetime) -> str | None:
        async with self._gate:
            await self._fresh_data(settings.team_id)
            digest = await self._composer.compose(
                settings.workspace_id, occurrence, late=now - occurrence.due_at > LATE_AFTER
            )
            envelopes = await self._render(digest, settings)
            return settings.team_id if await self._record(settings, occurrence, digest, envelopes) else None

    async def _fresh_data(self, team_id: str) -> None:
        """Sync first, so the digest is built on fresh data; a provider that does not answer in
        time leaves the figures as they are (the digest says how old they are)."""
        try:
            async with asyncio.timeout(SYNC_DEADLINE_SECONDS):
                await self._sync(team_id)
        except Exception as error:  # a failed sync must not cost the digest
            log.warning("digest.sync_failed", extra={"team_id": team_id, "error": type(error).__name__})

    async def _already_recorded(
        self, candidates: list[tuple[DigestSettings, Occurrence]]
    ) -> set[tuple[int, str]]:
        if not candidates:
            return set()
        pairs = [(s.workspace_id, o.period_key) for s, o in candidates]
        async with self._database.read() as session:
            return await queries.recorded_runs(session, pairs)

    async def _record(
        self,
        settings: DigestSettings,
        occurrence: Occurrence,
        digest: Digest,
        envelopes: Sequence[Envelope],
    ) -> bool:
        """The run and its outbox rows in one transaction: all of them, or (someone was first) none."""
        run = self._run(settings, occurrence, ENQUEUED)
        run.late, run.figures = digest.late, digest.figures
        try:
            async with self._database.write() as session:
                await queries.add_run(session, run)
                await enqueue(session, envelopes, self._clock.now())
        except ConstraintViolation:
            return False
        log.info("digest.enqueued", extra={"team_id": settings.team_id, "period": occurrence.period_key})
        return True

    async def _record_missed(self, settings: DigestSettings, occurrence: Occurrence) -> bool:
        try:
            async with self._database.write() as session:
                await queries.add_run(session, self._run(settings, occurrence, MISSED))
        except ConstraintViolation:
            return False
        log.warning("digest.missed", extra={"team_id": settings.team_id, "period": occurrence.period_key})
        return True

    def _run(self, settings: DigestSettings, occurrence: Occurrence, state: str) -> DigestRun:
        return DigestRun(
            workspace_id=settings.workspace_id,
            period_key=occurrence.period_key,
            state=state,
            created_at=self._clock.now(),
            due_at=occurrence.due_at,
            channel_id=settings.channel_id,
        )


def _counts(settings: DigestSettings, occurrence: Occurrence) -> bool:
    """A period that fell due before the digest was set up (or moved) is neither sent nor missed."""
    return settings.since is None or occurrence.due_at >= settings.since
