"""The digest is built on fresh data: the worker syncs a workspace before composing its digest."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from bot import formatting as fmt
from bot.app.worker import Worker
from bot.clock import ManualClock
from bot.features.digest.schedule import DAYS
from bot.sandbox.ponto import PontoSimulator
from bot.sandbox.slack import SlackSimulator
from storage.models import SyncRun
from tests.features.digest_support import CHANNEL, digests_in, subscribe, text_of, tick_and_send
from tests.handlers.test_cash_end_to_end import finished
from tests.handlers.test_connect_commands import button_url
from tests.harness import BotUnderTest, bot_settings, running_bot
from tests.ponto_support import ponto_settings, ponto_sim  # noqa: F401 - the fixture

BRUSSELS = zoneinfo.ZoneInfo("Europe/Brussels")


@pytest.fixture
async def connected(
    database_url: str,
    slack_sim: SlackSimulator,
    ponto_sim: PontoSimulator,  # noqa: F811
) -> AsyncIterator[tuple[BotUnderTest, ManualClock]]:
    # The real time: Ponto's simulator issues tokens by the machine's clock.
    clock = ManualClock(dt.datetime.now(dt.UTC).replace(second=0, microsecond=0))
    settings = bot_settings(database_url, slack_sim, **ponto_settings(ponto_sim))
    async with running_bot(settings, slack_sim, clock=clock) as bot, httpx.AsyncClient(timeout=10) as browser:
        link = button_url((await bot.slack.command("/cashbot", "connect ponto")).json())
        approve = await browser.get((await browser.get(link)).headers["location"])
        await browser.get(approve.headers["location"])
        await finished(bot, "ponto", 1)
        yield bot, clock


async def test_the_digest_syncs_first_and_shows_what_the_bank_booked_since(
    connected: tuple[BotUnderTest, ManualClock],
    slack_sim: SlackSimulator,
    ponto_sim: PontoSimulator,  # noqa: F811
) -> None:
    bot, clock = connected
    workspace_id = await bot.runtime.services.workspaces.workspace_id("T0CASHBOT")
    await subscribe(bot, workspace_id)
    due = clock.now().astimezone(BRUSSELS) + dt.timedelta(minutes=2)
    await bot.slack.command("/cashbot", f"digest time {DAYS[due.weekday()]} {due:%H:%M}", channel_id=CHANNEL)
    first = next(iter(ponto_sim.accounts.values()))
    ponto_sim.add_transactions(first.id, 3)
    ponto_sim.recent_sync_window = 0  # Ponto's own throttle would answer "recently synchronized"
    clock.set(due)
    await tick_and_send(bot)
    async with bot.runtime.core.database.read() as session:
        triggers = (await session.scalars(select(SyncRun.trigger).order_by(SyncRun.id))).all()

    bank = sum((a.balance for a in ponto_sim.accounts.values() if a.currency == "EUR"), Decimal(0))
    posted = digests_in(slack_sim)
    assert triggers[-1] == "digest"
    assert len(posted) == 1
    assert fmt.money(bank, "EUR", "nl-BE") in text_of(posted[0])  # U0ADMIN chose the channel


async def test_the_worker_syncs_right_after_it_starts(connected: tuple[BotUnderTest, ManualClock]) -> None:
    bot, _ = connected
    jobs = [job for job in bot.runtime.jobs if job.name == "sync_all"]
    worker = Worker(bot.runtime.core.database, jobs)
    await worker.start()
    try:
        async with asyncio.timeout(15):
            while not await scheduled_runs(bot):
                await asyncio.sleep(0.05)
    finally:
        await worker.stop()

    assert jobs[0].seconds == 3600  # an hour between runs, the first at once


async def scheduled_runs(bot: BotUnderTest) -> list[str]:
    async with bot.runtime.core.database.read() as session:
        return list(
            (await session.scalars(select(SyncRun.trigger).where(SyncRun.trigger == "schedule"))).all()
        )
