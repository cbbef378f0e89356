"""Run any ASGI app with uvicorn on a free loopback port, inside the current event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar

import uvicorn


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LoopbackServer:
    """Serves an ASGI app on 127.0.0.1; the port is reserved at construction, so `url` is known
    before the app exists (an app that must know its own public URL can be built afterwards).

        async with LoopbackServer(app) as server: ...   # or: server.start(app)
    """

    def __init__(
        self,
        app: Any = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lifespan: Literal["auto", "on", "off"] = "auto",
    ) -> None:
        self._app = app
        self._host = host
        self._lifespan = lifespan
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
        # listening socket's proto says TCP; with proto 0 every answer waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self, app: Any = None) -> LoopbackServer:
        if app is not None:
            self._app = app
        if self._app is None:
            raise ValueError("LoopbackServer needs an app")
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            lifespan=self._lifespan,
            timeout_graceful_shutdown=2,
            proxy_headers=False,  # a test stands in for the proxy itself; X-Forwarded-* is the bot's to judge
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            self._socket.close()
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = None
        self._socket.close()

    async def __aenter__(self) -> LoopbackServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class Simulator(Protocol):
    """A provider simulator: an ASGI app that must know the URL it is served at."""

    app: Any
    base_url: str


SimulatorT = TypeVar("SimulatorT", bound=Simulator)


@contextlib.asynccontextmanager
async def serve_simulator(sim: SimulatorT, *, port: int = 0) -> AsyncIterator[SimulatorT]:
    """Serve `sim` on loopback and set its `base_url` (its links and response_urls point there)."""
    async with LoopbackServer(sim.app, port=port) as server:
        sim.base_url = server.url
        yield sim
