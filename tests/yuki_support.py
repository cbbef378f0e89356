"""Fixtures for everything Yuki: the simulator on loopback, reseeded for each test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.sandbox.server import serve_simulator
from bot.sandbox.slack import SlackSimulator
from bot.sandbox.yuki import SANDBOX_KEY, YukiSimulator
from bot.sandbox.yuki_browser import Page, connect_through_browser
from storage.models import SyncRun
from tests.harness import BotUnderTest, bot_settings, running_bot


@pytest.fixture(scope="session")
async def yuki_server() -> AsyncIterator[YukiSimulator]:
    async with serve_simulator(YukiSimulator()) as sim:
        yield sim


@pytest.fixture
async def yuki_sim(yuki_server: YukiSimulator) -> YukiSimulator:
    """The simulator with its seeded books, no sessions, no faults, no calls recorded."""
    yuki_server.reseed()
    return yuki_server


@pytest.fixture
async def yuki_bot(
    database_url: str, slack_sim: SlackSimulator, yuki_sim: YukiSimulator
) -> AsyncIterator[BotUnderTest]:
    """The bot with YUKI_API_URL pointed at the simulator."""
    settings = bot_settings(database_url, slack_sim, yuki_api_url=yuki_sim.api_url)
    async with running_bot(settings, slack_sim) as bot:
        yield bot
        await settle(bot)


async def connect_link(bot: BotUnderTest, user_id: str = "U0ADMIN") -> str:
    """Ask for /cashbot connect yuki as Slack would; the link on the button."""
    payload = (await bot.slack.command("/cashbot", "connect yuki", user_id=user_id)).json()
    for block in payload.get("blocks", []):
        for element in block.get("elements", []):
            if element.get("url"):
                return str(element["url"])
    raise AssertionError(f"no link in {payload}")


async def connect_yuki(bot: BotUnderTest, key: str = SANDBOX_KEY) -> Page:
    """The whole connect flow through the bot's HTTP server; waits for the first sync."""
    before = await finished_syncs(bot)
    page = await connect_through_browser(await connect_link(bot), key)
    if page.status == 200 and "Yuki is connected" in page.text:
        await wait_for_syncs(bot, before + 1)
    return page


async def _count(bot: BotUnderTest, *conditions: Any) -> int:
    async with bot.runtime.core.database.read() as session:
        query = select(func.count()).select_from(SyncRun).where(SyncRun.provider == "yuki", *conditions)
        return int((await session.execute(query)).scalar_one())


async def finished_syncs(bot: BotUnderTest) -> int:
    return await _count(bot, SyncRun.outcome != "running")


async def wait_for_syncs(bot: BotUnderTest, count: int, within: float = 15.0) -> None:
    """Wait until `count` Yuki sync runs have finished (the first one runs after the form)."""
    async with asyncio.timeout(within):
        while await finished_syncs(bot) < count:
            await asyncio.sleep(0.05)


async def settle(bot: BotUnderTest, within: float = 15.0) -> None:
    """Wait until no Yuki sync is running (so a test never ends mid-sync)."""
    async with asyncio.timeout(within):
        while await _count(bot, SyncRun.outcome == "running"):
            await asyncio.sleep(0.05)
