"""The worker's own small HTTP server: /metrics (and /healthz) on CASHBOT_WORKER_METRICS_PORT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from bot.config import Settings
from handlers import web

log = logging.getLogger(__name__)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the worker's loop owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WorkerMetricsServer:
    """Serves the process's registry while the worker runs; nothing when the port is 0."""

    def __init__(self, settings: Settings, *, port: int | None = None) -> None:
        app = Starlette(
            routes=[
                Route("/metrics", web.metrics(settings.metrics_token), methods=["GET"]),
                Route("/healthz", web.healthz, methods=["GET"]),
            ]
        )
        self.port = settings.worker_metrics_port if port is None else port
        config = uvicorn.Config(
            app, host=settings.host, port=self.port, access_log=False, log_config=None, lifespan="off"
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self.port:
            return
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():  # the port is taken: say so, and fail the start
                self._task.result()
                raise OSError(f"the worker's metrics port {self.port} could not be opened")
            await asyncio.sleep(0.01)
        log.info("worker.metrics_listening", extra={"port": self.port})

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
        self._task = None
