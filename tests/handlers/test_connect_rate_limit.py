"""The connect pages answer one address at most N times a minute: then 429 with Retry-After (issue 14, 5)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.clock import ManualClock
from bot.sandbox.ponto import PontoSimulator
from bot.sandbox.slack import SlackSimulator
from tests.harness import BotUnderTest, bot_settings, running_bot
from tests.ponto_support import ponto_settings, ponto_sim

__all__ = ["ponto_sim"]

LIMIT = 5
PAGES = ["/connect/ponto", "/oauth/ponto/callback", "/connect/yuki"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime.now(dt.UTC))


@pytest.fixture
async def bot(
    database_url: str, slack_sim: SlackSimulator, ponto_sim: PontoSimulator, clock: ManualClock
) -> AsyncIterator[BotUnderTest]:
    settings = bot_settings(
        database_url,
        slack_sim,
        connect_rate_per_minute=LIMIT,
        trusted_proxies=("127.0.0.1",),  # the test's loopback peer plays the reverse proxy
        **ponto_settings(ponto_sim),
    )
    async with running_bot(settings, slack_sim, clock=clock) as running:
        yield running


async def guess(client: httpx.AsyncClient, url: str, **headers: str) -> httpx.Response:
    return await client.get(url, params={"t": secrets.token_urlsafe(32)}, headers=headers)


@pytest.mark.parametrize("path", PAGES)
async def test_random_tokens_from_one_address_are_cut_off_with_retry_after(
    bot: BotUnderTest, clock: ManualClock, path: str
) -> None:
    async with httpx.AsyncClient() as client:
        answered = [await guess(client, bot.url + path) for _ in range(LIMIT)]
        refused = await guess(client, bot.url + path)
        clock.advance(dt.timedelta(seconds=60 // LIMIT))
        again = await guess(client, bot.url + path)

    assert all(r.status_code != 429 for r in answered)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert again.status_code != 429, "a token comes back after 60/N seconds"


async def test_each_address_has_its_own_allowance_behind_a_trusted_proxy(bot: BotUnderTest) -> None:
    """The loopback peer is a trusted proxy (CASHBOT_TRUSTED_PROXIES): its
    X-Forwarded-For names the client; one client's flood does not lock another out."""
    page = bot.url + "/connect/yuki"
    async with httpx.AsyncClient() as client:
        for _ in range(LIMIT):
            await guess(client, page, **{"x-forwarded-for": "203.0.113.7"})
        flooder = await guess(client, page, **{"x-forwarded-for": "203.0.113.7"})
        other = await guess(client, page, **{"x-forwarded-for": "198.51.100.2"})

    assert flooder.status_code == 429
    assert other.status_code != 429


async def test_the_slack_endpoint_is_not_limited(bot: BotUnderTest) -> None:
    answers = [await bot.slack.command("/cashbot", "help") for _ in range(LIMIT + 3)]

    assert [a.status_code for a in answers] == [200] * (LIMIT + 3)
