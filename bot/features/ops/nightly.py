"""The nightly backup (with retention), the weekly restore drill of the newest and the daily audit verify."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.features.audit.trail import AuditTrail
from bot.features.backups import MANIFEST_SUFFIX, BackupService
from bot.features.ops.report import OpsReporter, Outcome
from bot.features.ops.retention import RetentionPurge
from storage.database import Database
from storage.leases import acquire_or_renew

BACKUP_NAME = re.compile(r"^cashbot-(\d{8}T\d{6}Z)\.(db|dump)$")
DRILL_WEEKDAY = 6  # Sunday, local time: after that night's backup
DONE_FOR = dt.timedelta(days=8)  # a job's "done" marker outlives its period
RUNNING_FOR = dt.timedelta(hours=2)  # longer than any backup or drill takes


@dataclass(frozen=True)
class NightlyPlan:
    """When and where: the local hour after which the night's jobs run, the folder, what is kept."""

    folder: Path
    timezone: str
    hour: int = 3
    keep_daily: int = 7
    keep_weekly: int = 4


class NightlyJobs:
    """A tick (every few minutes, leader only) runs each job once per period, whoever is leader."""

    def __init__(
        self,
        database: Database,
        backups: BackupService,
        audit: AuditTrail,
        reporter: OpsReporter,
        plan: NightlyPlan,
        *,
        clock: Clock,
        retention: RetentionPurge | None = None,
    ) -> None:
        self._retention = retention
        self._database = database
        self._backups = backups
        self._audit = audit
        self._reporter = reporter
        self._plan = plan
        self._clock = clock

    async def tick(self) -> None:
        local = self._clock.now().astimezone(ZoneInfo(self._plan.timezone))
        if local.hour < self._plan.hour:
            return
        day = local.date().isoformat()
        await self._once("backup", day, self._backup)
        if local.weekday() == DRILL_WEEKDAY:
            year, week, _ = local.isocalendar()
            await self._once("restore_drill", f"{year}-W{week:02d}", self._drill)
        await self._once("audit_verify", day, self._verify_audit)
        if self._retention is not None:
            await self._once("retention", day, self._retention.run)

    async def _once(self, job: str, period: str, run: Callable[[], Awaitable[Outcome]]) -> None:
        # A marker row per job and period: a second tick, a restart or another worker skips it.
        # It is short while the job runs, so a job cut off by a stop or a crash runs again later
        # that period; only a reported outcome makes it last the whole period.
        marker, holder = f"ops:{job}:{period}", uuid.uuid4().hex
        if not await acquire_or_renew(self._database, marker, holder, RUNNING_FOR):
            return
        try:
            outcome = await run()
        except Exception as error:  # an ops job reports its failure; it never stops the worker
            outcome = Outcome(job, False, f"{job.replace('_', ' ')} failed: {str(error)[:300]}")
        await self._reporter.report(outcome, period)
        await acquire_or_renew(self._database, marker, holder, DONE_FOR)

    async def _backup(self) -> Outcome:
        target, manifest = await self._backups.backup(self._plan.folder)
        removed = await asyncio.to_thread(prune_backups, self._plan.folder, self._plan)
        rows = sum(manifest.row_counts.values())
        size = target.stat().st_size // 1024
        return Outcome(
            "backup",
            True,
            f"Nightly backup {target.name}: {rows} rows, {size} KB",
            [f"{removed} old backups removed"],
        )

    async def _drill(self) -> Outcome:
        newest = newest_backup(self._plan.folder)
        if newest is None:
            return Outcome("restore_drill", False, f"Restore drill: no backup in {self._plan.folder}")
        report = await self._backups.verify(newest)
        lines = [
            f"{'ok' if c.ok else 'FAILED'} {c.name}" + (f" ({c.detail})" if c.detail and not c.ok else "")
            for c in report.checks
        ]
        verdict = "passed" if report.ok else "FAILED"
        return Outcome(
            "restore_drill",
            report.ok,
            f"Restore drill of {newest.name} {verdict} in {report.seconds:.1f} s",
            lines,
        )

    async def _verify_audit(self) -> Outcome:
        report = await self._audit.verify()
        if report.ok:
            return Outcome(
                "audit_verify", True, f"Audit trail intact: {report.rows} events in {report.chains} chains"
            )
        lines = [f"{b.chain} #{b.seq}: {b.reason}" for b in report.broken]
        return Outcome("audit_verify", False, "Audit trail TAMPERED: the hash chain does not verify", lines)


def _stamp(path: Path) -> dt.datetime | None:
    found = BACKUP_NAME.match(path.name)
    if found is None:
        return None
    return dt.datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def _backups(folder: Path) -> list[tuple[dt.datetime, Path]]:
    if not folder.is_dir():
        return []
    found = [(stamp, path) for path in folder.iterdir() if (stamp := _stamp(path)) is not None]
    return sorted(found, reverse=True)


def newest_backup(folder: Path) -> Path | None:
    found = _backups(folder)
    return found[0][1] if found else None


def kept(stamps: list[dt.datetime], keep_daily: int, keep_weekly: int) -> set[dt.datetime]:
    """The newest backup of each of the last `keep_daily` days and of the last `keep_weekly` weeks."""
    days: dict[dt.date, dt.datetime] = {}
    weeks: dict[tuple[int, int], dt.datetime] = {}
    for stamp in sorted(stamps, reverse=True):
        days.setdefault(stamp.date(), stamp)
        weeks.setdefault(stamp.isocalendar()[:2], stamp)
    daily = sorted(days.values(), reverse=True)[:keep_daily]
    weekly = sorted(weeks.values(), reverse=True)[:keep_weekly]
    return set(daily) | set(weekly)


def prune_backups(folder: Path, plan: NightlyPlan) -> int:
    """Delete the backups (and their manifests) retention does not keep; only files we named."""
    found = _backups(folder)
    keep = kept([stamp for stamp, _ in found], plan.keep_daily, plan.keep_weekly)
    removed = 0
    for stamp, path in found:
        if stamp not in keep:
            path.unlink(missing_ok=True)
            path.with_name(path.name + MANIFEST_SUFFIX).unlink(missing_ok=True)
            removed += 1
    return removed
