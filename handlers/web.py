"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

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


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
