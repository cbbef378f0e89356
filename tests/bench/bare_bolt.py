"""The baseline of the benchmark: a bare Bolt app (AsyncApp, HTTP mode, Starlette) whose commands only ack.

Served by uvicorn exactly like cashbot (`uvicorn tests.bench.bare_bolt:app`); it verifies signatures
(Bolt's own check) and authorizes with a bot token through the Slack simulator, as cashbot does.
"""

from __future__ import annotations

import os

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

bolt = AsyncApp(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    client=AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
    process_before_response=True,
)


@bolt.command("/cash")
@bolt.command("/overdue")
async def only_ack(ack) -> None:  # type: ignore[no-untyped-def]
    await ack()


handler = AsyncSlackRequestHandler(bolt)


async def events(request: Request) -> Response:
    return await handler.handle(request)


app = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
