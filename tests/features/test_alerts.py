"""Alerts as #alerts sees them, through the bot's HTTP server and the Slack, Ponto and Yuki simulators:
one message per incident, at once or after the threshold, updated in place, recovered in its thread."""

from __future__ import annotations

import datetime as dt

import httpx

from bot.clock import ManualClock
from bot.sandbox.ponto import PontoSimulator
from bot.sandbox.yuki import YukiSimulator
from tests.features.alerts_support import (
    ALERTS,
    alert_messages,
    bot,
    break_ponto_grant,
    browser,
    buttons,
    clock,
    connect_ponto,
    connect_yuki_books,
    sync_and_send,
    text_of,
    yuki_outage_alert,
)
from tests.harness import BotUnderTest
from tests.ponto_support import ponto_sim

__all__ = ["bot", "browser", "clock", "ponto_sim"]


async def test_ponto_invalid_grant_posts_one_alert_at_once(
    bot: BotUnderTest, browser: httpx.AsyncClient, ponto_sim: PontoSimulator
) -> None:
    await connect_ponto(bot, browser)
    await break_ponto_grant(bot, ponto_sim)

    await sync_and_send(bot)
    await sync_and_send(bot)  # the connection now waits for a person: nothing new is posted

    [alert] = alert_messages(bot.sim)
    text = text_of(alert)
    assert "Ponto needs to be reconnected" in text
    assert "no longer accepts cashbot's access" in text
    assert "Last good sync" in text and "/cash" in text and "Reconnect" in text
    assert "invalid_grant" not in text, "plain words, not an error code"
    assert set(buttons(alert)) == {"Reconnect"}, "a sync cannot fix a revoked grant"
    status = str((await bot.slack.command("/cashbot", "status")).json())
    assert "posted in channel C0ALERTS" in status and "open: Ponto (reauth)" in status


async def test_a_yuki_outage_is_an_alert_after_the_threshold_not_for_one_failure(
    bot: BotUnderTest, yuki_sim: YukiSimulator, clock: ManualClock
) -> None:
    await connect_yuki_books(bot)
    yuki_sim.fail("http_500", times=10_000)

    await sync_and_send(bot)
    assert alert_messages(bot.sim) == [], "one failure is a blip, not an alert"

    clock.advance(dt.timedelta(minutes=31))
    await sync_and_send(bot)

    [alert] = alert_messages(bot.sim)
    assert "Yuki is not answering" in text_of(alert)
    assert "2 times" in text_of(alert)
    assert set(buttons(alert)) == {"Retry now"}


async def test_a_lone_failure_is_checked_again_after_the_threshold_and_a_blip_stays_quiet(
    bot: BotUnderTest, yuki_sim: YukiSimulator, clock: ManualClock
) -> None:
    await connect_yuki_books(bot)
    yuki_sim.fail("http_500", times=1)  # a blip
    await sync_and_send(bot)
    clock.advance(dt.timedelta(minutes=31))
    await bot.runtime.incidents.tick()  # the worker's incident job syncs it again: it works
    await bot.runtime.digest.sender.drain()
    assert alert_messages(bot.sim) == []

    yuki_sim.fail("http_500", times=10_000)  # now an outage, and no scheduled sync for an hour
    await sync_and_send(bot)
    clock.advance(dt.timedelta(minutes=20))
    await bot.runtime.incidents.tick()
    assert alert_messages(bot.sim) == [], "20 minutes: not yet"
    clock.advance(dt.timedelta(minutes=11))
    await bot.runtime.incidents.tick()
    await bot.runtime.digest.sender.drain()

    [alert] = alert_messages(bot.sim)
    assert "Yuki is not answering" in text_of(alert) and "2 times" in text_of(alert)


async def test_more_failures_update_the_one_message_and_recovery_replies_in_its_thread(
    bot: BotUnderTest, yuki_sim: YukiSimulator, clock: ManualClock
) -> None:
    await connect_yuki_books(bot)
    yuki_sim.fail("http_500", times=10_000)
    for _ in range(2):
        await sync_and_send(bot)
        clock.advance(dt.timedelta(minutes=60))
    posts_before = len(bot.sim.calls_to("chat.postMessage"))

    for _ in range(20):
        await sync_and_send(bot)
        clock.advance(dt.timedelta(minutes=60))

    [alert] = alert_messages(bot.sim)
    assert len(bot.sim.calls_to("chat.postMessage")) == posts_before, "nothing new was posted"
    assert alert["edits"] == 20 and "22 times" in text_of(alert)

    yuki_sim.faults.clear()
    await sync_and_send(bot)

    [alert] = alert_messages(bot.sim)
    [reply] = bot.sim.replies(ALERTS, alert["ts"])
    assert "Yuki works again" in text_of(reply)
    assert text_of(alert).startswith("Resolved: Yuki is not answering")
    assert buttons(alert) == {}, "a resolved alert offers no buttons"
    assert len(bot.sim.calls_to("chat.postMessage")) == posts_before + 1


async def test_a_lasting_incident_is_reminded_at_most_once_a_day_in_its_thread(
    bot: BotUnderTest, yuki_sim: YukiSimulator, clock: ManualClock
) -> None:
    alert = await yuki_outage_alert(bot, yuki_sim, clock)

    reminded = []
    for hours in (12, 13, 1, 10, 14):  # 12 h, 25 h, 26 h, 36 h, 50 h after it opened
        clock.advance(dt.timedelta(hours=hours))
        reminded.append(
            await bot.runtime.incidents.service.remind() + await bot.runtime.incidents.service.remind()
        )
    await bot.runtime.digest.sender.drain()

    assert reminded == [0, 1, 0, 0, 1]
    replies = bot.sim.replies(ALERTS, alert["ts"])
    assert len(replies) == 2 and all("Still not fixed" in text_of(r) for r in replies)
    assert all(r["reply_broadcast"] for r in replies), "a reminder is seen in the channel too"


async def test_alerts_off_posts_nothing_and_here_moves_them(
    bot: BotUnderTest, browser: httpx.AsyncClient, ponto_sim: PontoSimulator
) -> None:
    off = (await bot.slack.command("/cashbot", "alerts off", channel_id=ALERTS)).json()
    refused = (await bot.slack.command("/cashbot", "alerts here", user_id="U0MEMBER")).json()
    bad = (await bot.slack.command("/cashbot", "alerts everywhere", channel_id=ALERTS)).json()
    await connect_ponto(bot, browser)
    await break_ponto_grant(bot, ponto_sim)
    await sync_and_send(bot)

    assert "Alerts are *off*" in str(off)
    assert "Only workspace admins and managers" in str(refused)
    assert "Usage: `/cashbot alerts`" in str(bad)
    assert alert_messages(bot.sim) == [] and alert_messages(bot.sim, "C0FINANCE") == []


async def test_a_held_mass_close_is_an_alert_at_once_that_asks_for_a_confirmation(
    bot: BotUnderTest, yuki_sim: YukiSimulator, clock: ManualClock
) -> None:
    await connect_yuki_books(bot)
    await sync_and_send(bot)  # the books as they were: every item open
    for administration_id in yuki_sim.administrations:
        receivables = yuki_sim.receivables(administration_id)
        for item in receivables[: len(receivables) * 3 // 4]:
            yuki_sim.pay(item.id)
    clock.advance(dt.timedelta(minutes=5))

    await sync_and_send(bot)

    [alert] = alert_messages(bot.sim)
    text = text_of(alert)
    assert "Yuki sync is held" in text
    assert "/cashbot sync confirm yuki" in text
    assert set(buttons(alert)) == set(), "retrying gives the same answer; a person decides"
