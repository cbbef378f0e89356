"""A crash inside the Ponto token refresh window (issue 14, 7): Ponto rotated the refresh token,
the process died before storing it. The next refresh finds the grant ended, and whoever connected
Ponto is told at once, by DM, with Reconnect, even with no alert channel."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from bot.clock import ManualClock
from bot.delivery.sender import MARKER_EVENT
from bot.domain import Provider
from bot.sandbox.ponto import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, PontoSimulator
from bot.sandbox.slack import SlackSimulator
from bot.sandbox.yuki import YukiSimulator
from storage.models import Connection
from tests.features.alerts_support import alert_bot, buttons, clock, connect_ponto, sync_and_send, text_of
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
    """Ponto connected by U0ADMIN; no digest or alert channel is set, so no channel hears of it."""
    async with alert_bot(database_url, slack_sim, ponto_sim, yuki_sim, clock) as running:
        async with httpx.AsyncClient(timeout=10) as browser:
            await connect_ponto(running, browser)
        yield running


async def crash_inside_the_refresh_window(bot: BotUnderTest, ponto: PontoSimulator) -> None:
    """What the dead process did: refresh at Ponto (which rotates the token) and store nothing."""
    workspace_id = await bot.runtime.services.workspaces.workspace_id("T0CASHBOT")
    _, credentials = await bot.runtime.services.connections.load(workspace_id, Provider.PONTO)
    async with httpx.AsyncClient() as client:
        rotated = await client.post(
            ponto.base_url + "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]},
            auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        )
    assert rotated.status_code == 200, rotated.text
    async with bot.runtime.core.database.write() as session:  # the stored access token runs out
        await session.execute(
            update(Connection)
            .where(Connection.provider == "ponto")
            .values(token_expires_at=bot.runtime.core.clock.now() - dt.timedelta(minutes=1))
        )
    ponto.expire_access_tokens()  # and Ponto refuses it too (the restarted process has no cache)


def reconnect_dms(sim: SlackSimulator, user_id: str = "U0ADMIN") -> list[dict[str, Any]]:
    return [
        m
        for m in sim.posted(user_id)
        if (m.get("metadata") or {}).get("event_type") == MARKER_EVENT
        and str(m["metadata"]["event_payload"]["key"]).startswith("alert:")
    ]


async def test_the_person_who_connected_ponto_is_told_at_once_by_dm(
    bot: BotUnderTest, ponto_sim: PontoSimulator
) -> None:
    await crash_inside_the_refresh_window(bot, ponto_sim)

    await sync_and_send(bot)
    await sync_and_send(bot)  # the next hour: still broken, but told once

    [dm] = reconnect_dms(bot.sim)
    assert "Ponto needs to be reconnected" in text_of(dm)
    assert "Reconnect" in buttons(dm)
    async with bot.runtime.core.database.read() as session:
        assert (await session.scalar(select(Connection.state))) == "needs_reauth"


async def test_reconnect_from_that_dm_hands_a_fresh_link(
    bot: BotUnderTest, ponto_sim: PontoSimulator
) -> None:
    await crash_inside_the_refresh_window(bot, ponto_sim)
    await sync_and_send(bot)
    [dm] = reconnect_dms(bot.sim)

    clicked = await bot.slack.block_action("alert_reconnect", buttons(dm)["Reconnect"], channel_id="D0ADMIN")
    (answer,) = await bot.sim.wait_for_response(1)

    assert clicked.status_code == 200 and "/connect/ponto?t=" in button_url(answer.params)
