"""The worker's delivery shows in /metrics: messages sent by kind, Slack calls and every 429."""

from __future__ import annotations

import datetime as dt

from prometheus_client import REGISTRY

from bot.clock import ManualClock
from bot.sandbox.slack import Failure, SlackSimulator
from tests.features.digest_support import digest_bot, digests_in, seed, subscribe, tick_and_send, utc

MONDAY_EIGHT = utc(2027, 6, 7, 6, 0)  # 08:00 in Brussels


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def readings() -> dict[str, float]:
    return {
        "digests": sample("cashbot_messages_sent_total", kind="digest"),
        "429s": sample("cashbot_slack_rate_limited_total"),
        "posts_ok": sample("cashbot_slack_api_calls_total", method="chat.postMessage", outcome="ok"),
    }


async def test_a_digest_through_a_429_storm_is_counted_once_and_each_429_too(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    clock = ManualClock(utc(2027, 6, 1, 12, 0))
    before = readings()
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await subscribe(bot, workspace_id)
        clock.set(MONDAY_EIGHT)
        slack_sim.fail("chat.postMessage", Failure(mode="ratelimited", times=6, retry_after=1))
        await tick_and_send(bot)
        clock.advance(dt.timedelta(seconds=2))
        await tick_and_send(bot)
        await tick_and_send(bot)
    after = readings()

    assert len(digests_in(slack_sim)) == 1
    assert after["digests"] - before["digests"] == 1
    assert after["429s"] - before["429s"] == 6
    assert after["posts_ok"] - before["posts_ok"] == 1
