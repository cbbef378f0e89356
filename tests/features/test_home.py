"""The App Home tab through the bot's HTTP server: `app_home_opened` publishes each member's view;
a member without access sees the states and no figures, and no button that would reveal them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from bot.clock import ManualClock
from bot.sandbox.blocks_text import blocks_to_text
from bot.sandbox.ponto import PontoSimulator
from bot.sandbox.slack import SlackSimulator
from bot.sandbox.yuki import YukiSimulator
from tests.features.alerts_support import (
    alert_bot,
    alerts_here,
    break_ponto_grant,
    connect_ponto,
    sync_and_send,
)
from tests.harness import BotUnderTest
from tests.ponto_support import ponto_sim

__all__ = ["ponto_sim"]


@pytest.fixture
async def bot(
    database_url: str, slack_sim: SlackSimulator, ponto_sim: PontoSimulator, yuki_sim: YukiSimulator
) -> AsyncIterator[BotUnderTest]:
    clock = ManualClock(dt.datetime.now(dt.UTC))
    async with alert_bot(database_url, slack_sim, ponto_sim, yuki_sim, clock) as running:
        await alerts_here(running)
        async with httpx.AsyncClient(timeout=10) as browser:
            await connect_ponto(running, browser)
        yield running


async def open_home(bot: BotUnderTest, user_id: str) -> dict[str, Any]:
    response = await bot.slack.event(
        {"type": "app_home_opened", "user": user_id, "channel": "D0HOME", "tab": "home"}
    )
    assert response.status_code == 200
    view: dict[str, Any] = bot.sim.home_views[user_id]
    assert view["type"] == "home"
    return view


def action_ids(view: dict[str, Any]) -> set[str]:
    found = set()
    for block in view["blocks"]:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("action_id"):
                found.add(element["action_id"])
    return found


async def test_the_home_tab_of_an_admin_shows_states_figures_and_buttons(bot: BotUnderTest) -> None:
    view = await open_home(bot, "U0ADMIN")
    text = blocks_to_text(view)

    assert "Ponto" in text and "working" in text and "Yuki" in text and "not connected" in text
    assert "Cash EUR" in text and "Last good sync: just now" in text and "Next sync: in 1 h" in text
    assert "Alerts <#C0ALERTS>" in json.dumps(view) or "C0ALERTS" in json.dumps(view)
    assert "Digest off" in text
    assert action_ids(view) == {"home_connect", "home_sync_now", "home_digest_preview"}


async def test_a_member_without_access_sees_states_but_no_figures_and_no_revealing_buttons(
    bot: BotUnderTest,
) -> None:
    view = await open_home(bot, "U0MEMBER")
    text = blocks_to_text(view)

    assert "Ponto" in text and "working" in text
    assert "Cash EUR" not in text and "€" not in json.dumps(view, ensure_ascii=False)
    assert action_ids(view) == set(), "no sync, preview or connect for a member without access"
    assert "ask an admin or manager for access" in text


async def test_an_open_alert_and_a_reconnect_button_show_on_home(
    bot: BotUnderTest, ponto_sim: PontoSimulator
) -> None:
    await break_ponto_grant(bot, ponto_sim)
    await sync_and_send(bot)

    text = blocks_to_text(await open_home(bot, "U0ADMIN"))

    assert "needs reconnecting" in text and "Open alerts" in text and "1 open" in text
    assert "Reconnect Ponto" in text


async def test_home_buttons_answer_in_a_modal_with_the_subcommands_own_checks(bot: BotUnderTest) -> None:
    await bot.slack.block_action("home_digest_preview", "preview", user_id="U0ADMIN", channel_id="")
    await bot.slack.block_action("home_sync_now", "sync", user_id="U0MEMBER", channel_id="")

    preview, refused = [_view(c.params["view"]) for c in bot.sim.calls_to("views.open")]
    assert preview["type"] == "modal" and preview["title"]["text"] == "Digest preview"
    assert "Cash now" in blocks_to_text(preview) or "EUR" in blocks_to_text(preview)
    assert "Only members with access" in blocks_to_text(refused)


def _view(value: Any) -> dict[str, Any]:
    view: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
    return view


async def test_sync_now_from_home_answers_at_once_and_republishes_the_tab_when_done(
    bot: BotUnderTest,
) -> None:
    await open_home(bot, "U0ADMIN")
    requests = bot.runtime.reports.sync_requests
    requests.rules = replace(requests.rules, cooldown=dt.timedelta(0))  # the first sync just ran

    await bot.slack.block_action("home_sync_now", "sync", user_id="U0ADMIN", channel_id="")
    [answer] = [_view(c.params["view"]) for c in bot.sim.calls_to("views.open")]
    await requests.run_pending()

    assert "Retrying now" in blocks_to_text(answer)
    assert len(bot.sim.calls_to("views.publish")) == 2, "the tab shows the sync's result"
