"""A job outside any Slack request refreshes a rotating bot token itself and posts with the new one."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from sqlalchemy import select, update

from bot.clock import ManualClock
from bot.features.digest.schedule import DAYS
from bot.sandbox.slack import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SlackSimulator
from bot.sandbox.slack_requests import install_through_browser
from storage.models import SlackBot, SlackInstallation
from tests.features.digest_support import CHANNEL, digests_in, subscribe, tick_and_send
from tests.harness import bot_settings, running_bot

BRUSSELS = zoneinfo.ZoneInfo("Europe/Brussels")


async def test_the_worker_rotates_an_expiring_bot_token_and_saves_it(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    slack_sim.token_rotation = True
    # slack_sdk's rotator compares expiry with the machine's time: the bot's clock starts there too.
    clock = ManualClock(dt.datetime.now(dt.UTC).replace(second=0, microsecond=0))
    settings = bot_settings(
        database_url,
        slack_sim,
        slack_bot_token=None,
        slack_client_id=DEFAULT_CLIENT_ID,
        slack_client_secret=DEFAULT_CLIENT_SECRET,
    )
    async with running_bot(settings, slack_sim, clock=clock) as bot:
        assert (await install_through_browser(bot.url)).status_code == 200
        workspace_id = await bot.runtime.services.workspaces.workspace_id("T0CASHBOT")
        await subscribe(bot, workspace_id)
        due = clock.now().astimezone(BRUSSELS) + dt.timedelta(minutes=2)
        await bot.slack.command(
            "/cashbot", f"digest time {DAYS[due.weekday()]} {due:%H:%M}", channel_id=CHANNEL
        )
        async with bot.runtime.core.database.write() as session:
            soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)  # inside the two hours before expiry
            await session.execute(update(SlackBot).values(bot_token_expires_at=soon))
            await session.execute(update(SlackInstallation).values(bot_token_expires_at=soon))
        store = bot.runtime.digest.clients._store
        installed = await store.async_find_bot(enterprise_id=None, team_id="T0CASHBOT")
        clock.set(due)
        await tick_and_send(bot)
        stored = await store.async_find_bot(enterprise_id=None, team_id="T0CASHBOT")
        async with bot.runtime.core.database.read() as session:
            expires = (await session.scalars(select(SlackBot.bot_token_expires_at))).one()

    refreshes = [
        c for c in slack_sim.calls_to("oauth.v2.access") if c.params.get("grant_type") == "refresh_token"
    ]
    posts = slack_sim.calls_to("chat.postMessage")
    assert len(refreshes) == 1
    assert len(digests_in(slack_sim)) == 1
    assert posts[-1].token == stored.bot_token != installed.bot_token
    assert expires is not None and expires > soon + dt.timedelta(hours=6)
