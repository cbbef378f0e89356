"""Running processes: `serve`/`web` under uvicorn, `worker` on its own, one-shot maintenance."""

from __future__ import annotations

import asyncio
import signal

import uvicorn

from bot.asgi import create_app
from bot.config import Settings
from bot.scheduler import Worker, run_forever
from bot.services.keys import rotate_keys
from bot.wiring import Runtime, build_runtime
from storage.crypto import SecretBox
from storage.database import Database
from storage.rotation import RotationReport


def serve(settings: Settings, *, with_worker: bool) -> int:
    """Run the web app (and, for `serve`, the worker in the same process) until stopped."""
    runtime = build_runtime(settings)
    worker = Worker(runtime.database, runtime.jobs) if with_worker else None

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
        proxy_headers=True,
        server_header=False,
    )
    uvicorn.Server(config).run()
    return 0


def work(settings: Settings) -> int:
    """Run the scheduler until SIGTERM/SIGINT; standby until this process holds the lease."""
    runtime = build_runtime(settings)

    async def main() -> None:
        task = asyncio.create_task(run_forever(Worker(runtime.database, runtime.jobs)))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
        finally:
            await runtime.aclose()

    asyncio.run(main())
    return 0


async def rotate(settings: Settings) -> RotationReport:
    database = Database(settings.database_url)
    try:
        return await rotate_keys(database, SecretBox(settings.encryption_keys))
    finally:
        await database.dispose()
