"""Posting to Slack from outside a request: 429s are waited out, bad tokens and hangs fail softly."""

from __future__ import annotations

import time

import pytest

from bot.app.wiring import slack_client
from bot.render import Message
from bot.sandbox.slack import Failure, SlackSimulator
from handlers.notify import SlackNotifier
from tests.harness import bot_settings

MESSAGE = Message(text="Ponto is connected", blocks=[])


@pytest.fixture
def notifier(slack_sim: SlackSimulator, database_url: str) -> SlackNotifier:
    settings = bot_settings(database_url, slack_sim)
    return SlackNotifier(
        lambda token: slack_client(settings, token, timeout=1),
        single_token=settings.slack_bot_token,
        store=None,
    )


async def test_posts_to_a_user(notifier: SlackNotifier, slack_sim: SlackSimulator) -> None:
    ts = await notifier.post_to_user("T0CASHBOT", "U0ADMIN", MESSAGE)

    (call,) = slack_sim.calls_to("chat.postMessage")
    assert ts and call.params["channel"] == "U0ADMIN" and call.params["text"] == "Ponto is connected"


async def test_rate_limit_is_waited_out(notifier: SlackNotifier, slack_sim: SlackSimulator) -> None:
    slack_sim.fail("chat.postMessage", Failure("ratelimited", retry_after=1))
    started = time.monotonic()

    ts = await notifier.post("T0CASHBOT", "C0FINANCE", MESSAGE)

    assert ts is not None
    assert len(slack_sim.calls_to("chat.postMessage")) == 2
    assert time.monotonic() - started >= 1.0, "no second try before Retry-After"


@pytest.mark.parametrize("failure", [Failure("invalid_auth"), Failure("hang", seconds=5)])
async def test_bad_token_or_hanging_slack_fails_softly(
    notifier: SlackNotifier, slack_sim: SlackSimulator, failure: Failure
) -> None:
    failure.times = 5
    slack_sim.fail("chat.postMessage", failure)

    assert await notifier.post("T0CASHBOT", "C0FINANCE", MESSAGE) is None
