"""Running processes: `serve`/`web` under uvicorn, `worker` on its own, one-shot maintenance."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import signal
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from bot import metrics
from bot.app.early_stop import hand_over, stop_requested
from bot.app.preflight import bind_listening_socket
from bot.app.runtime import Runtime
from bot.app.web import create_app
from bot.app.wiring import build_runtime
from bot.app.worker import Worker
from bot.app.worker_metrics import WorkerMetricsServer
from bot.config import Settings
from bot.domain import Provider
from bot.features.audit.export import export_csv
from bot.features.audit.trail import VerifyReport
from bot.features.backups import BackupService, DrillReport, Manifest
from bot.features.key_rotation import rotate_keys
from bot.features.sync.runner import SyncResult
from storage.rotation import RotationReport


def serve(settings: Settings, *, with_worker: bool) -> int:
    """Run the web app (and, for `serve`, the worker in the same process) until stopped."""
    listening = bind_listening_socket(settings.host, settings.port)
    runtime = build_runtime(settings)
    watch_backup_age(runtime)
    worker = Worker(runtime.core.database, runtime.jobs) if with_worker else None

    async def start_worker(_: Runtime) -> None:
        if worker is not None:
            await worker.start()

    async def stop_worker(_: Runtime) -> None:
        if worker is not None:
            await worker.stop()

    app = create_app(
        runtime,
        migrate_on_start=with_worker and settings.is_sqlite,
        on_start=[start_worker],
        on_stop=[stop_worker],
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,  # our AccessLog middleware logs paths without their query string
        log_config=None,
        # X-Forwarded-* is read by our own middleware, from CASHBOT_TRUSTED_PROXIES only.
        proxy_headers=False,
        server_header=False,
    )
    settle_garbage_collector()
    _GracefulServer(config).run(sockets=[listening])
    return 0


def watch_backup_age(runtime: Runtime) -> None:
    """/metrics shows the newest backup's age by this process's clock."""
    clock = runtime.core.clock
    metrics.watch_backup_age(lambda: clock.now().timestamp())


def settle_garbage_collector() -> None:
    """Keep garbage collection from stalling answers (it set the p99 of /cash and /overdue).

    Everything built at start-up lives as long as the process: frozen, full collections no longer
    rescan it. A larger first generation makes collections rarer; each request's garbage is small.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


class _GracefulServer(uvicorn.Server):
    """uvicorn, minus re-raising SIGTERM after a graceful shutdown: a clean stop exits with 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        hand_over()
        if stop_requested():
            self.handle_exit(signal.SIGTERM, None)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def work(settings: Settings) -> int:
    """Run the scheduler until SIGTERM/SIGINT; standby until this process holds the lease."""

    async def main() -> None:
        # First thing in the loop: from here a signal asks for a graceful stop (the lease is
        # released) instead of the start-up handler's immediate exit.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runtime = build_runtime(settings, web=False)
        watch_backup_age(runtime)
        worker = Worker(runtime.core.database, runtime.jobs)
        exporter = WorkerMetricsServer(settings)
        hand_over()
        if stop_requested():
            stop.set()
        try:
            if not stop.is_set():
                await exporter.start()
                await worker.start()
            await stop.wait()
        finally:
            await worker.stop()
            await exporter.stop()
            await runtime.aclose()

    asyncio.run(main())
    return 0


async def rotate(settings: Settings) -> RotationReport:
    """`cashbot rotate-keys`, recorded in the audit trail."""
    runtime = build_runtime(settings, web=False)
    try:
        report = await rotate_keys(runtime.core.database, runtime.core.box)
        await runtime.services.audit.record(
            team_id=None,
            actor="cli",
            action="keys.rotated",
            detail={"values": report.total, "tables": report.rotated},
        )
        return report
    finally:
        await runtime.aclose()


async def sync_now(settings: Settings, *, team_id: str | None, provider: str | None) -> list[SyncResult]:
    """`cashbot sync`: run the syncs at once, in this process."""
    runtime = build_runtime(settings, web=False)
    try:
        chosen = Provider(provider) if provider else None
        return await runtime.services.sync.run_all("cli", team_id=team_id, provider=chosen)
    finally:
        await runtime.aclose()


def _backups(runtime: Runtime) -> BackupService:
    return BackupService(
        runtime.core.database,
        runtime.core.box,
        runtime.core.settings.audit_key or "",
        clock=runtime.core.clock,
    )


async def backup_now(settings: Settings, folder: Path) -> tuple[Path, Manifest]:
    runtime = build_runtime(settings, web=False)
    try:
        return await _backups(runtime).backup(folder)
    finally:
        await runtime.aclose()


async def verify_backup(settings: Settings, backup: Path) -> DrillReport:
    runtime = build_runtime(settings, web=False)
    try:
        return await _backups(runtime).verify(backup)
    finally:
        await runtime.aclose()


async def restore_backup(settings: Settings, backup: Path, *, force: bool) -> DrillReport:
    runtime = build_runtime(settings, web=False)
    try:
        return await _backups(runtime).restore(backup, force=force)
    finally:
        await runtime.aclose()


async def verify_audit(settings: Settings) -> VerifyReport:
    runtime = build_runtime(settings, web=False)
    try:
        return await runtime.services.audit.verify()
    finally:
        await runtime.aclose()


async def export_audit(settings: Settings, since: dt.date) -> str:
    """`cashbot audit export --since DATE --format csv`."""
    runtime = build_runtime(settings, web=False)
    try:
        return await export_csv(runtime.core.database, since)
    finally:
        await runtime.aclose()
