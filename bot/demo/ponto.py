"""The demo's Ponto step: an admin connects Ponto (link, consent, callback), the first sync runs."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from sqlalchemy import select

from bot.demo.context import DemoContext
from bot.domain import Provider
from bot.sandbox.ponto import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, PontoSimulator
from bot.sandbox.server import serve_simulator
from storage.models import SyncRun


async def start_ponto_simulator(stack: AsyncExitStack) -> tuple[PontoSimulator, dict[str, Any]]:
    """The Ponto simulator on loopback, and the settings that point the bot at it."""
    sim = await stack.enter_async_context(serve_simulator(PontoSimulator()))
    return sim, {
        "ponto_client_id": DEFAULT_CLIENT_ID,
        "ponto_client_secret": DEFAULT_CLIENT_SECRET,
        "ponto_api_url": sim.base_url,
        "ponto_authorization_url": sim.base_url + "/oauth2/auth",
    }


async def connect_ponto(demo: DemoContext) -> None:
    """/cashbot connect ponto → the link → Ponto's consent (approves at once) → callback → first sync."""
    answer = await demo.command("/cashbot", "connect ponto")
    link = next(e["url"] for b in answer["blocks"] for e in b.get("elements", []) if e.get("url"))
    response = await demo.browser.get(link)
    while response.status_code in (302, 303):  # the link -> Ponto's consent page -> our callback
        response = await demo.browser.get(response.headers["location"])
    print(f"\n> Browser follows the link; Ponto approves; the callback answers HTTP {response.status_code}.")
    for call in demo.sim.calls_to("chat.postMessage")[-1:]:
        demo.show("cashbot → DM to the admin", {"text": call.params.get("text")})
    first = await _first_run(demo)
    print(
        f"\n> First Ponto sync: {first.outcome}; {first.items_fetched} transactions fetched, "
        f"{first.items_written} stored, {first.api_calls} API calls."
    )
    workspace_id = await demo.runtime.services.workspaces.workspace_id(demo.slack.team_id)
    again = await demo.runtime.services.sync.run(workspace_id, Provider.PONTO, "demo")
    print(f"> Synced again with nothing new at the bank: {again.written} stored, {again.api_calls} API call.")
    await demo.command("/cashbot", "status")


async def _first_run(demo: DemoContext) -> SyncRun:
    """The sync the callback started in the background, once it has finished."""
    async with asyncio.timeout(30):
        while True:
            async with demo.runtime.core.database.read() as session:
                run = (
                    await session.execute(select(SyncRun).where(SyncRun.provider == Provider.PONTO.value))
                ).scalar_one_or_none()
            if run is not None and run.outcome != "running":
                return run
            await asyncio.sleep(0.05)
