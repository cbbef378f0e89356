"""Ponto's bank consent ahead of time, on a moved clock: a DM at 14 and at 7 days, once each, and a
channel alert at 7 days with Reconnect; renewing it recovers that alert."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from bot.clock import ManualClock
from bot.delivery.sender import MARKER_EVENT
from bot.sandbox.ponto import PontoSimulator
from bot.sandbox.slack import SlackSimulator
from bot.sandbox.yuki import YukiSimulator
from storage.models import Connection
from tests.features.alerts_support import (
    ALERTS,
    alert_bot,
    alert_messages,
    alerts_here,
    buttons,
    clock,
    connect_ponto,
    text_of,
)
from tests.handlers.test_connect_commands import button_url
from tests.harness import BotUnderTest
from tests.ponto_support import ponto_sim

__all__ = ["clock", "ponto_sim"]


@pytest.fixture
async def bot(
    database_url: str,
    slack_sim: SlackSimulator,
    ponto_sim: PontoSimulator,
    yuki_sim: YukiSimulator,
    clock: ManualClock,
) -> AsyncIterator[BotUnderTest]:
    async with alert_bot(database_url, slack_sim, ponto_sim, yuki_sim, clock) as running:
        await alerts_here(running)
        async with httpx.AsyncClient(timeout=10) as browser:
            await connect_ponto(running, browser)
        yield running


async def consent_ends(bot: BotUnderTest, moment: dt.datetime) -> None:
    async with bot.runtime.core.database.write() as session:
        await session.execute(
            update(Connection).where(Connection.provider == "ponto").values(consent_expires_at=moment)
        )


def dms(sim: SlackSimulator, user_id: str = "U0ADMIN") -> list[dict[str, Any]]:
    return [
        m
        for m in sim.posted(user_id)
        if (m.get("metadata") or {}).get("event_type") == MARKER_EVENT
        and str(m["metadata"]["event_payload"]["key"]).startswith("consent:")
    ]


async def days_pass(bot: BotUnderTest, clock: ManualClock, days: int) -> None:
    """The worker's consent job runs (twice, as two workers would) every 6 hours."""
    for _ in range(days * 4):
        await bot.runtime.incidents.consent.tick()
        await bot.runtime.incidents.consent.tick()
        await bot.runtime.digest.sender.drain()
        clock.advance(dt.timedelta(hours=6))


async def test_consent_dms_at_14_and_7_days_exactly_once_each(bot: BotUnderTest, clock: ManualClock) -> None:
    await consent_ends(bot, clock.now() + dt.timedelta(days=20))

    await days_pass(bot, clock, 6)
    assert dms(bot.sim) == [], "nothing three weeks ahead"
    await days_pass(bot, clock, 7)
    assert [("14 days" in text_of(m)) for m in dms(bot.sim)] == [True]
    assert alert_messages(bot.sim) == [], "14 days ahead is for the person who connected it"
    await days_pass(bot, clock, 6)

    first, second = dms(bot.sim)
    assert "14 days" in text_of(first) and "7 days" in text_of(second)
    assert set(buttons(second)) == {"Reconnect"}
    [alert] = alert_messages(bot.sim)
    assert "bank consent expires soon" in text_of(alert)
    assert set(buttons(alert)) == {"Reconnect"}, "a sync cannot renew a consent: no Retry now"


async def test_reconnect_from_the_dm_hands_a_fresh_link_and_a_renewed_consent_recovers_the_alert(
    bot: BotUnderTest, clock: ManualClock
) -> None:
    await consent_ends(bot, clock.now() + dt.timedelta(days=6))
    await days_pass(bot, clock, 1)
    [dm] = dms(bot.sim)
    assert "7 days" in text_of(dm), "first seen 6 days ahead: only the 7-day warning"

    clicked = await bot.slack.block_action("cashbot_connect_ponto", "ponto", channel_id="D0ADMIN")
    (answer,) = await bot.sim.wait_for_response(1)
    await consent_ends(bot, clock.now() + dt.timedelta(days=90))
    await days_pass(bot, clock, 1)

    assert clicked.status_code == 200 and "/connect/ponto?t=" in button_url(answer.params)
    [alert] = alert_messages(bot.sim)
    [reply] = bot.sim.replies(ALERTS, alert["ts"])
    assert "The consent was renewed" in text_of(reply)
    assert text_of(alert).startswith("Resolved:")
