"""The worker: a leader lease, and APScheduler timers that only the leader acts on."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import log_context
from bot.errors import StorageUnavailable
from storage.database import Database
from storage.leases import acquire_or_renew, release

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_TTL = dt.timedelta(seconds=30)
RENEW_EVERY_SECONDS = 10

Job = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class PeriodicJob:
    """A job the leader runs every `seconds`."""

    name: str
    seconds: float
    run: Job
    misfire_grace_seconds: int = 60
    run_at_start: bool = False  # once right after start too, not only one interval later


class Worker:
    """Runs periodic jobs in exactly one process of a deployment.

    Every worker renews or tries to take the lease every few seconds; only the holder runs jobs.
    Our tables are the source of truth, so APScheduler keeps its timers in memory only.
    """

    def __init__(
        self,
        database: Database,
        jobs: Sequence[PeriodicJob],
        owner: str | None = None,
        *,
        lease_ttl: dt.timedelta = LEASE_TTL,
        renew_every: float = RENEW_EVERY_SECONDS,
    ) -> None:
        self._database = database
        self._jobs = jobs
        self._lease_ttl = lease_ttl
        self._renew_every = renew_every
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.is_leader = False
        self._scheduler = AsyncIOScheduler(
            timezone=dt.UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )

    async def start(self) -> None:
        self._scheduler.add_listener(self._on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        # Take the lease now rather than one interval later: a standby knows at once where it stands.
        await self._renew_lease()
        self._scheduler.add_job(self._renew_lease, "interval", seconds=self._renew_every, id="lease")
        for job in self._jobs:
            self._scheduler.add_job(
                self._as_leader(job),
                "interval",
                seconds=job.seconds,
                id=job.name,
                misfire_grace_time=job.misfire_grace_seconds,
            )
            if job.run_at_start:
                # A job with no trigger runs once, now (APScheduler reads its own clock for that).
                self._scheduler.add_job(self._as_leader(job), id=f"{job.name}:start")
        self._scheduler.start()
        log.info("worker.started", extra={"owner": self.owner, "jobs": [job.name for job in self._jobs]})

    async def stop(self) -> None:
        if self._scheduler.running:  # a stop during start-up comes before the scheduler runs
            self._scheduler.shutdown(wait=False)
        if self.is_leader:
            with contextlib.suppress(StorageUnavailable):
                await release(self._database, LEASE_NAME, self.owner)
        self.is_leader = False

    async def _renew_lease(self) -> None:
        try:
            leader = await acquire_or_renew(self._database, LEASE_NAME, self.owner, self._lease_ttl)
        except StorageUnavailable:
            leader = False
        if leader != self.is_leader:
            log.info("worker.leadership", extra={"owner": self.owner, "leader": leader})
        self.is_leader = leader

    def _as_leader(self, job: PeriodicJob) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if not self.is_leader:
                return
            with log_context.bind(job=job.name):
                await job.run()

        run.__name__ = job.name
        return run

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("worker.job_missed", extra={"job": event.job_id})
        else:
            log.error(
                "worker.job_failed",
                extra={"job": event.job_id, "error": repr(event.exception)[:300]},
            )
