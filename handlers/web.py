"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.features.health import HealthService


async def healthz(request: Request) -> Response:
    """Liveness: the process is up and its event loop answers."""
    return JSONResponse({"status": "ok"})


def readyz(health: HealthService) -> object:
    async def endpoint(request: Request) -> Response:
        """Readiness: 200 when commands can be answered, else 503 with the reasons."""
        readiness = await health.readiness()
        if readiness.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "problems": readiness.problems}, status_code=503)

    return endpoint


def metrics(token: str | None) -> Callable[[Request], Awaitable[Response]]:
    """Prometheus text; with a token set, only for `Authorization: Bearer <token>`."""
    expected = f"Bearer {token}".encode() if token else None

    async def endpoint(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            # compare_digest: the time taken does not tell how much of a guess was right.
            if not hmac.compare_digest(given, expected):
                return Response(
                    "a bearer token is required\n",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return endpoint
