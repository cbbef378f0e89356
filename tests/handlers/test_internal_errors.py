"""A bug behind a command or a button: the person gets "Something went wrong" with a reference,
and the log line under that reference has the trace (never the request body)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, NoReturn

import pytest

from bot.app.runtime import Runtime
from bot.domain import Provider
from bot.sandbox.blocks_text import blocks_to_text
from bot.sandbox.slack import SlackSimulator
from tests.features import cash_data as data
from tests.features.cash_data import Item
from tests.handlers.test_overdue_command import _more_button, ago
from tests.harness import BotUnderTest, bot_settings, running_bot

REFERENCE = re.compile(r"under reference `([0-9a-f]{8})`")


class Broken:
    """Stands in for a service method with a bug in it."""

    def __init__(self) -> None:
        self.armed = True
        self.calls = 0

    def wrap(self, method: Any) -> Any:
        async def maybe_broken(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.armed:
                self.explode()
            return await method(*args, **kwargs)

        return maybe_broken

    @staticmethod
    def explode() -> NoReturn:
        raise ZeroDivisionError("a bug deep inside")


BrokenBot = tuple[BotUnderTest, Broken]


@pytest.fixture
async def broken_bot(
    database_url: str, slack_sim: SlackSimulator
) -> AsyncIterator[tuple[BotUnderTest, Broken]]:
    broken = Broken()

    def customize(runtime: Runtime) -> None:
        cash, receivables = runtime.reports.cash, runtime.reports.receivables
        cash.position = broken.wrap(cash.position)  # type: ignore[method-assign]
        receivables.overdue = broken.wrap(receivables.overdue)  # type: ignore[method-assign]

    async with running_bot(bot_settings(database_url, slack_sim), slack_sim, customize=customize) as bot:
        yield bot, broken


def logged_reference(caplog: pytest.LogCaptureFixture, message: str) -> str:
    (record,) = [r for r in caplog.records if r.getMessage() == message]
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
    return str(record.reference)  # type: ignore[attr-defined]


async def test_a_command_that_breaks_answers_with_a_reference_to_the_log(
    broken_bot: BrokenBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot, _ = broken_bot
    await data.workspace(bot.runtime.core.database, installed_by="U0ADMIN")
    caplog.set_level(logging.ERROR)

    response = await bot.slack.command("/cash", user_id="U0ADMIN")

    assert response.status_code == 200  # Slack shows our answer, not "dispatch_failed"
    text = blocks_to_text(response.json())
    assert "Something went wrong on cashbot's side" in text
    match = REFERENCE.search(text)
    assert match is not None and match.group(1) == logged_reference(caplog, "command.failed")


async def test_a_button_that_breaks_answers_with_a_reference_to_the_log(
    broken_bot: BrokenBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot, broken = broken_bot
    database = bot.runtime.core.database
    workspace_id = await data.workspace(database, installed_by="U0ADMIN")
    yuki = await data.connect(database, workspace_id, Provider.YUKI)
    items = [
        Item(f"Klant {n:02d}", f"F-{n:02d}", Decimal(100 + n), ago(10 + n), code=f"K{n}") for n in range(15)
    ]
    await data.add_items(database, workspace_id, yuki, items)
    broken.armed = False
    first = (await bot.slack.command("/overdue", user_id="U0ADMIN")).json()
    broken.armed = True
    caplog.set_level(logging.ERROR)

    await bot.slack.block_action("overdue_more", _more_button(first)["value"], user_id="U0ADMIN")

    (reply,) = await bot.sim.wait_for_response(1)
    text = blocks_to_text(reply.params)
    assert "Something went wrong on cashbot's side" in text
    assert reply.params["replace_original"] is False, "the figures already shown stay"
    match = REFERENCE.search(text)
    assert match is not None and match.group(1) == logged_reference(caplog, "action.failed")
    assert broken.calls == 2
