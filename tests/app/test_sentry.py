"""Optional Sentry: an error reaches a loopback stand-in for Sentry, tagged and scrubbed like the logs."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sentry_sdk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import log_context
from bot.app.sentry import init_sentry
from bot.config import Settings
from bot.providers.http import ResilientSender, RetryPolicy
from bot.sandbox.server import LoopbackServer

IBAN = "BE27734081011173"
TOKEN = "xoxb-1111-2222-secretbottoken"


class StandIn:
    """Receives Sentry envelopes (POST /api/<project>/envelope/) and keeps their items."""

    def __init__(self) -> None:
        self.raw: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/api/{project}/envelope/", self.envelope, methods=["POST"]),
                Route("/bank/{rest:path}", self.failing_provider, methods=["GET"]),
            ]
        )

    async def envelope(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        text = body.decode()
        self.raw.append(text)
        lines = text.splitlines()
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                self.events.append(json.loads(payload))
        return JSONResponse({})

    async def failing_provider(self, request: Request) -> Response:
        return PlainTextResponse(f"account {IBAN} is not available", status_code=503)


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[StandIn, str]]:
    sentry = StandIn()
    async with LoopbackServer(sentry.app) as server:
        try:
            yield sentry, server.url
        finally:
            sentry_sdk.get_client().close()
            sentry_sdk.init()  # no DSN: reporting off again for the rest of the run


async def test_an_error_arrives_tagged_and_without_iban_or_token(stand_in: tuple[StandIn, str]) -> None:
    sentry, url = stand_in
    assert init_sentry(Settings(sentry_dsn=url.replace("http://", "http://publickey@") + "/42"))

    async with httpx.AsyncClient() as client:
        with log_context.bind(workspace="T0ACME", command="/cash"):
            sender = ResilientSender(client, "ponto", RetryPolicy(attempts=1))
            await sender.send(lambda: client.build_request("GET", f"{url}/bank/accounts?iban={IBAN}"))
            try:
                raise RuntimeError(f"no balance for {IBAN} (token {TOKEN})")
            except RuntimeError:
                logging.getLogger("handlers.slash").exception("command.failed", extra={"command": "/cash"})
    await asyncio.to_thread(sentry_sdk.flush, 5)

    async with asyncio.timeout(5):
        while not sentry.events:
            await asyncio.sleep(0.05)
    event = sentry.events[0]
    assert event["tags"]["workspace"] == "T0ACME" and event["tags"]["command"] == "/cash"
    assert event["tags"]["provider_call"] == "ponto GET /bank/accounts -> 503"
    assert event["exception"]["values"][0]["type"] == "RuntimeError"
    everything = "".join(sentry.raw)
    assert IBAN not in everything and "secretbottoken" not in everything
    assert "[iban]" in everything, "the message is there, with the IBAN masked"


def test_without_a_dsn_nothing_is_started() -> None:
    assert init_sentry(Settings()) is False
