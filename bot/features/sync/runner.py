"""Runs provider syncs: one at a time per connection, recorded in sync_run, failures mapped to alerts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot import log_context, metrics
from bot.clock import Clock
from bot.domain import ConnectionState, Provider, SyncOutcome
from bot.errors import (
    MalformedResponse,
    NotConnected,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
    SecretUnreadable,
    StorageUnavailable,
)
from bot.features.alerts import AlertService
from bot.providers.base import Syncer, SyncRun
from bot.providers.connections import ConnectionService, ConnectionView
from storage import sync_runs as queries
from storage.database import Database
from storage.leases import acquire_or_renew, release
from storage.models import SyncRun as SyncRunRow

log = logging.getLogger(__name__)

FAILURES_BEFORE_ALERT = 3
LEASE_TTL = dt.timedelta(minutes=2)


class RunOutcome(enum.StrEnum):
    """How `SyncService.run` ended: the run's own outcome, or why no run happened."""

    SUCCESS = SyncOutcome.SUCCESS.value
    PARTIAL = SyncOutcome.PARTIAL.value
    FAILED = SyncOutcome.FAILED.value
    NOT_CONNECTED = "not_connected"
    NEEDS_REAUTH = "needs_reauth"
    ALREADY_RUNNING = "already_running"


@dataclass(frozen=True)
class SyncResult:
    """How one run ended."""

    workspace_id: int
    provider: Provider
    outcome: RunOutcome
    run_id: int | None = None
    fetched: int = 0
    written: int = 0
    api_calls: int = 0
    error_code: str | None = None
    error_message: str | None = None


SyncListener = Callable[[SyncResult], Awaitable[None]]


class SyncService:
    """Runs and records syncs for every provider that registered a Syncer."""

    def __init__(
        self,
        database: Database,
        connections: ConnectionService,
        alerts: AlertService,
        syncers: Mapping[Provider, Syncer] | None = None,
        *,
        clock: Clock,
        lease_ttl: dt.timedelta = LEASE_TTL,
    ) -> None:
        self._database = database
        self._clock = clock
        self._connections = connections
        self._alerts = alerts
        self.syncers: dict[Provider, Syncer] = dict(syncers or {})
        self._lease_ttl = lease_ttl
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._listeners: list[SyncListener] = []

    def register(self, syncer: Syncer) -> None:
        self.syncers[syncer.provider] = syncer

    def on_finished(self, listener: SyncListener) -> None:
        """Call `listener` after every run that stored something (cache invalidation, follow-ups)."""
        self._listeners.append(listener)

    async def run(self, workspace_id: int, provider: Provider, trigger: str = "manual") -> SyncResult:
        """Sync one connection now, unless another process is already syncing it."""
        connection = await self._connections.find(workspace_id, provider)
        syncer = self.syncers.get(provider)
        if connection is None or syncer is None or connection.state == ConnectionState.DISCONNECTED:
            return SyncResult(workspace_id, provider, RunOutcome.NOT_CONNECTED)
        if connection.state == ConnectionState.NEEDS_REAUTH:
            return SyncResult(
                workspace_id, provider, RunOutcome.NEEDS_REAUTH, error_code=connection.last_error_code
            )
        # Each run holds the lease under its own name: a second run in this very process (the
        # hourly job and a "Sync now", say) must be turned away just like one in another process.
        lease, owner = f"sync:{connection.id}", f"{self._owner}:{uuid.uuid4().hex[:8]}"
        if not await acquire_or_renew(self._database, lease, owner, self._lease_ttl):
            return SyncResult(workspace_id, provider, RunOutcome.ALREADY_RUNNING)
        keeper = asyncio.create_task(self._keep_lease(lease, owner))
        try:
            result = await self._run_locked(connection, syncer, trigger, lease, owner)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await release(self._database, lease, owner)
        # Listeners (cache, alerts) run once the lease is released, so their work does not keep the
        # connection busy for the next run (a test or a Sync now right after this one finished).
        await self._notify(result)
        return result

    async def _keep_lease(self, lease: str, owner: str) -> None:
        """Renew the lease while the run lasts (a first backfill can take minutes)."""
        while True:
            await asyncio.sleep(self._lease_ttl.total_seconds() / 3)
            with contextlib.suppress(StorageUnavailable):
                await acquire_or_renew(self._database, lease, owner, self._lease_ttl)

    async def _run_locked(
        self, connection: ConnectionView, syncer: Syncer, trigger: str, lease: str, owner: str
    ) -> SyncResult:
        await self._close_interrupted(connection.id)
        run = await self._start(connection, trigger)

        async def heartbeat() -> None:
            await acquire_or_renew(self._database, lease, owner, self._lease_ttl)

        run.heartbeat = heartbeat
        started = time.monotonic()
        with log_context.bind(workspace_id=connection.workspace_id, provider=connection.provider.value):
            try:
                await syncer.sync(connection, run)
            except Exception as error:
                result = await self._failed(connection, run, error)
            else:
                result = await self._succeeded(connection, run)
        metrics.SYNC_SECONDS.labels(connection.provider.value).observe(time.monotonic() - started)
        metrics.SYNC_RUNS.labels(provider=connection.provider.value, outcome=result.outcome).inc()
        return result

    async def _start(self, connection: ConnectionView, trigger: str) -> SyncRun:
        async with self._database.write() as session:
            row = SyncRunRow(
                workspace_id=connection.workspace_id,
                connection_id=connection.id,
                provider=connection.provider.value,
                trigger=trigger[:16],
                started_at=self._clock.now(),
                outcome=SyncOutcome.RUNNING.value,
            )
            run_id = await queries.open_run(session, row)
        return SyncRun(run_id, connection.workspace_id, connection.provider, trigger)

    async def _close_interrupted(self, connection_id: int) -> None:
        """Runs still marked running when we hold the lease were killed mid-way: say so."""
        async with self._database.write() as session:
            await queries.fail_running(
                session,
                connection_id,
                self._clock.now(),
                "interrupted",
                "the process stopped before this run finished; the next run resumed it",
            )

    async def _finish(
        self, run: SyncRun, outcome: SyncOutcome, code: str | None = None, message: str | None = None
    ) -> SyncResult:
        async with self._database.write() as session:
            await queries.close_run(
                session,
                run.id,
                outcome=outcome.value,
                finished_at=self._clock.now(),
                items_fetched=run.fetched,
                items_written=run.written,
                api_calls=run.api_calls,
                error_code=code,
                error_message=message,
                details=json.dumps(run.details, default=str) if run.details else None,
            )
        return SyncResult(
            run.workspace_id,
            run.provider,
            RunOutcome(outcome.value),
            run.id,
            run.fetched,
            run.written,
            run.api_calls,
            code,
            message,
        )

    async def _succeeded(self, connection: ConnectionView, run: SyncRun) -> SyncResult:
        await self._connections.record_success(connection.id)
        for key in ("failing", "reauth", "secret"):
            await self._alerts.resolve(connection.workspace_id, f"{connection.provider.value}:{key}")
        return await self._finish(run, run.outcome)

    async def _failed(self, connection: ConnectionView, run: SyncRun, error: Exception) -> SyncResult:
        code, message = _describe(error)
        log.warning(
            "sync.failed",
            extra={
                "provider": connection.provider.value,
                "workspace_id": connection.workspace_id,
                "code": code,
                "error": message,
            },
        )
        if isinstance(error, StorageUnavailable):
            return SyncResult(
                run.workspace_id,
                run.provider,
                RunOutcome.FAILED,
                run.id,
                error_code=code,
                error_message=message,
            )
        try:
            await self._record_failure(connection, error, code, message)
        finally:
            result = await self._finish(run, SyncOutcome.FAILED, code, message)
        return result

    async def _record_failure(
        self, connection: ConnectionView, error: Exception, code: str, message: str
    ) -> None:
        provider = connection.provider.value
        if isinstance(error, ReauthRequired):
            # Only if the credentials that failed are still the stored ones (not reconnected meanwhile;
            # a Ponto refresh during the run has already marked the connection itself).
            marked = await self._connections.mark(
                connection.id,
                ConnectionState.NEEDS_REAUTH,
                error_code=code,
                error_message=message,
                only_version=connection.version,
            )
            if not marked:
                return
            await self._alerts.raise_alert(
                connection.workspace_id,
                kind="reauth_required",
                dedupe_key=f"{provider}:reauth",
                title=f"{provider.title()} needs to be reconnected",
                detail={"provider": provider, "code": code, "message": message},
                severity="error",
            )
            return
        if isinstance(error, SecretUnreadable):
            await self._connections.mark(
                connection.id, ConnectionState.FAILING, error_code=code, error_message=message
            )
            await self._alerts.raise_alert(
                connection.workspace_id,
                kind="secret_unreadable",
                dedupe_key=f"{provider}:secret",
                title=f"cashbot cannot read the stored {provider.title()} credentials (encryption key?)",
                detail={"provider": provider},
                severity="error",
            )
            return
        failures = connection.consecutive_failures + 1
        state = ConnectionState.FAILING if failures >= FAILURES_BEFORE_ALERT else connection.state
        await self._connections.mark(connection.id, state, error_code=code, error_message=message)
        if failures >= FAILURES_BEFORE_ALERT:
            await self._alerts.raise_alert(
                connection.workspace_id,
                kind="sync_failing",
                dedupe_key=f"{provider}:failing",
                title=f"Syncing {provider.title()} keeps failing",
                detail={"provider": provider, "code": code, "message": message, "failures": failures},
            )

    async def _notify(self, result: SyncResult) -> None:
        for listener in self._listeners:
            try:
                await listener(result)
            except Exception:  # a listener must never turn a finished sync into a failure
                log.exception("sync.listener_failed")

    async def run_all(
        self,
        trigger: str = "schedule",
        *,
        team_id: str | None = None,
        provider: Provider | None = None,
        concurrency: int = 4,
    ) -> list[SyncResult]:
        """Sync every active connection (optionally of one workspace or provider), a few at a time."""
        connections = await self._connections.active(provider=provider, team_id=team_id)
        gate = asyncio.Semaphore(concurrency)

        async def one(connection: ConnectionView) -> SyncResult:
            async with gate:
                return await self.run(connection.workspace_id, connection.provider, trigger)

        return list(await asyncio.gather(*(one(c) for c in connections)))


# Most specific first: a subclass gets its own code, never the generic "provider_error".
PROVIDER_ERROR_CODES: tuple[tuple[type[ProviderError], str], ...] = (
    (ReauthRequired, "reauth_required"),
    (RateLimited, "rate_limited"),
    (ProviderUnavailable, "provider_unavailable"),
    (MalformedResponse, "malformed_response"),
)


def _describe(error: Exception) -> tuple[str, str]:
    """A short code and a safe message (our errors never carry secrets)."""
    if isinstance(error, ProviderError):
        code = error.code or next(
            (code for kind, code in PROVIDER_ERROR_CODES if isinstance(error, kind)), "provider_error"
        )
        return code, str(error)[:500]
    if isinstance(error, SecretUnreadable):
        return "secret_unreadable", str(error)
    if isinstance(error, StorageUnavailable):
        return "storage_unavailable", str(error)
    if isinstance(error, NotConnected):
        return "not_connected", str(error)
    log.exception("sync.unexpected_error", exc_info=error)
    return "internal_error", type(error).__name__
