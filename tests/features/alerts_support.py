"""A bot wired to the Ponto, Yuki and Slack simulators on a moved clock, and what #alerts got."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from bot.clock import ManualClock
from bot.delivery.sender import MARKER_EVENT
from bot.sandbox.blocks_text import blocks_to_text
from bot.sandbox.ponto import Failure, PontoSimulator
from bot.sandbox.slack import SlackSimulator
from bot.sandbox.yuki import YukiSimulator
from storage.models import Connection, SyncRun
from tests.handlers.test_ponto_connect import connect_link, consent, first_sync
from tests.harness import BotUnderTest, bot_settings, running_bot
from tests.ponto_support import ponto_settings
from tests.yuki_support import connect_yuki

ALERTS = "C0ALERTS"


@pytest.fixture
def clock() -> ManualClock:
    """The bot's clock, started at the machine's time and moved by the test."""
    return ManualClock(dt.datetime.now(dt.UTC))


@pytest.fixture
async def bot(
    database_url: str,
    slack_sim: SlackSimulator,
    ponto_sim: PontoSimulator,
    yuki_sim: YukiSimulator,
    clock: ManualClock,
) -> AsyncIterator[BotUnderTest]:
    """The bot with alerts going to #alerts (import it into a test module to use it)."""
    async with alert_bot(database_url, slack_sim, ponto_sim, yuki_sim, clock) as running:
        await alerts_here(running)
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """The admin's browser, for consent pages."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@asynccontextmanager
async def alert_bot(
    database_url: str,
    slack: SlackSimulator,
    ponto: PontoSimulator,
    yuki: YukiSimulator,
    clock: ManualClock,
    *,
    keys: tuple[str, ...] | None = None,
) -> AsyncIterator[BotUnderTest]:
    """`keys`: the encryption keys, for a second worker that must read what the first one stored."""
    settings = bot_settings(database_url, slack, yuki_api_url=yuki.api_url, **ponto_settings(ponto))
    if keys is not None:
        settings = replace(settings, encryption_keys=keys)
    async with running_bot(settings, slack, clock=clock) as bot:
        yield bot


async def alerts_here(bot: BotUnderTest, channel: str = ALERTS) -> None:
    answer = (await bot.slack.command("/cashbot", "alerts here", channel_id=channel)).json()
    assert f"<#{channel}>" in str(answer), answer


async def connect_ponto(bot: BotUnderTest, browser: httpx.AsyncClient) -> None:
    """The whole consent flow, and the first sync it starts."""
    page = await browser.get(await consent(browser, await connect_link(bot)))
    assert "Ponto is connected" in page.text
    await first_sync(bot)


async def connect_yuki_books(bot: BotUnderTest) -> None:
    page = await connect_yuki(bot)
    assert "Yuki is connected" in page.text


async def break_ponto_grant(bot: BotUnderTest, ponto: PontoSimulator) -> None:
    """The next token refresh is answered invalid_grant (the consent was revoked at Ponto)."""
    async with bot.runtime.core.database.write() as session:
        await session.execute(
            update(Connection)
            .where(Connection.provider == "ponto")
            .values(token_expires_at=bot.runtime.core.clock.now() - dt.timedelta(minutes=1))
        )
    ponto.expire_access_tokens()
    ponto.fail("token", Failure("invalid_grant"))


async def sync_and_send(bot: BotUnderTest) -> None:
    """What the worker's sync job and outbox job do, once each."""
    await bot.runtime.services.sync.run_all("schedule")
    await bot.runtime.digest.sender.drain()


def alert_messages(sim: SlackSimulator, channel: str = ALERTS) -> list[dict[str, Any]]:
    """Top-level alert messages in a channel (replies in their threads are not counted)."""
    return [m for m in sim.posted(channel) if _alert_key(m) and not m.get("thread_ts")]


def _alert_key(message: dict[str, Any]) -> bool:
    metadata = message.get("metadata") or {}
    key = str((metadata.get("event_payload") or {}).get("key") or "")
    return metadata.get("event_type") == MARKER_EVENT and key.startswith("alert:")


def text_of(message: dict[str, Any]) -> str:
    return blocks_to_text(message)


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """Button label → value."""
    return {
        e["text"]["text"]: e.get("value", "")
        for b in message.get("blocks") or []
        for e in b.get("elements") or []
        if e.get("type") == "button"
    }


async def click(bot: BotUnderTest, action_id: str, value: str, user_id: str = "U0ADMIN") -> dict[str, Any]:
    """Click an alert's button in #alerts; the answer only the clicker sees."""
    before = len(bot.sim.responses)
    response = await bot.slack.block_action(
        action_id, value, user_id=user_id, channel_id=ALERTS, ephemeral=False
    )
    assert response.status_code == 200
    answers = await bot.sim.wait_for_response(before + 1)
    payload: dict[str, Any] = answers[before].params
    assert payload.get("response_type") == "ephemeral" and not payload.get("replace_original")
    return payload


async def wait_for_runs(bot: BotUnderTest, provider: str, count: int, within: float = 15.0) -> None:
    """Until `count` runs of the provider have finished (a connect starts one in the background)."""
    async with asyncio.timeout(within):
        while True:
            async with bot.runtime.core.database.read() as session:
                done = await session.scalar(
                    select(func.count())
                    .select_from(SyncRun)
                    .where(SyncRun.provider == provider, SyncRun.outcome != "running")
                )
            if int(done or 0) >= count:
                return
            await asyncio.sleep(0.05)


async def replies_arrive(
    bot: BotUnderTest, ts: str, count: int = 1, within: float = 10.0
) -> list[dict[str, Any]]:
    """Drain the outbox until the alert's thread holds `count` replies (a background sync feeds it)."""
    async with asyncio.timeout(within):
        while len(replies := bot.sim.replies(ALERTS, ts)) < count:
            await bot.runtime.digest.sender.drain()
            await asyncio.sleep(0.05)
    return replies


async def yuki_outage_alert(bot: BotUnderTest, yuki: YukiSimulator, clock: ManualClock) -> dict[str, Any]:
    """Yuki's books connected, then an outage lasting past the threshold: its one alert message."""
    await connect_yuki_books(bot)
    yuki.fail("http_500", times=10_000)
    for _ in range(2):
        clock.advance(dt.timedelta(minutes=31))
        await sync_and_send(bot)
    [alert] = alert_messages(bot.sim)
    return alert
