"""Unusual access goes by DM to the workspace's admins and managers, once each, and to no channel."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from bot.clock import ManualClock
from bot.delivery.sender import MARKER_EVENT
from bot.sandbox.ponto import PontoSimulator
from bot.sandbox.slack import DEFAULT_TEAM, SimUser, SlackSimulator
from bot.sandbox.yuki import YukiSimulator
from tests.features.alerts_support import ALERTS, alert_bot, alerts_here, connect_ponto, text_of
from tests.harness import BotUnderTest
from tests.ponto_support import ponto_sim

__all__ = ["ponto_sim"]


@pytest.fixture
def owner(slack_sim: SlackSimulator) -> Iterator[str]:
    """A second Slack admin (the workspace owner), who never used cashbot."""
    users = slack_sim.teams[DEFAULT_TEAM].users
    users["U0OWNER"] = SimUser("U0OWNER", "olga.owner", is_owner=True)
    yield "U0OWNER"
    del users["U0OWNER"]


@pytest.fixture
async def bot(
    database_url: str,
    slack_sim: SlackSimulator,
    ponto_sim: PontoSimulator,
    yuki_sim: YukiSimulator,
    owner: str,
) -> AsyncIterator[BotUnderTest]:
    clock = ManualClock(dt.datetime.now(dt.UTC))
    async with alert_bot(database_url, slack_sim, ponto_sim, yuki_sim, clock) as running:
        await alerts_here(running)
        async with httpx.AsyncClient(timeout=10) as browser:
            await connect_ponto(running, browser)  # U0ADMIN connected it: a manager
        yield running


def notices(sim: SlackSimulator, channel: str) -> list[dict[str, Any]]:
    return [
        m
        for m in sim.posted(channel)
        if (m.get("metadata") or {}).get("event_type") == MARKER_EVENT
        and str(m["metadata"]["event_payload"]["key"]).startswith("access:")
    ]


async def test_refusals_in_a_burst_are_told_by_dm_to_admins_and_managers_once(
    bot: BotUnderTest, owner: str
) -> None:
    limit = bot.runtime.reports.watch.limits.refusals_per_window
    for _ in range(limit * 2):  # one crossing of the limit, then more of the same within the hour
        await bot.slack.command("/cash", user_id="U0MEMBER")
    await bot.runtime.digest.sender.drain()

    [to_admin], [to_owner] = notices(bot.sim, "U0ADMIN"), notices(bot.sim, owner)
    assert "Unusual access" in text_of(to_admin) and "refused" in text_of(to_admin)
    assert text_of(to_owner) == text_of(to_admin)
    assert notices(bot.sim, "U0MEMBER") == [], "not to the member being watched"
    assert notices(bot.sim, ALERTS) == [] and notices(bot.sim, "C0FINANCE") == [], "never to a channel"
