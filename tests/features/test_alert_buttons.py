"""An alert's Reconnect and Retry now buttons, clicked as Slack reports them; and what bad clicks get."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import func, select

from bot.app.digest import OUTBOX_LEASE
from bot.clock import ManualClock
from bot.delivery.sender import Sender
from bot.sandbox.ponto import PontoSimulator
from bot.sandbox.slack import SlackSimulator
from bot.sandbox.yuki import YukiSimulator
from storage.crypto import generate_key
from storage.models import Connection, ConnectLink
from tests.delivery.test_exactly_once import Killed, die_at
from tests.features.alerts_support import (
    ALERTS,
    alert_bot,
    alert_messages,
    alerts_here,
    bot,
    break_ponto_grant,
    browser,
    buttons,
    click,
    clock,
    connect_ponto,
    connect_yuki_books,
    replies_arrive,
    sync_and_send,
    text_of,
    wait_for_runs,
    yuki_outage_alert,
)
from tests.handlers.test_connect_commands import button_url
from tests.handlers.test_ponto_connect import consent
from tests.harness import BotUnderTest
from tests.ponto_support import ponto_sim

__all__ = ["bot", "browser", "clock", "ponto_sim"]


async def reauth_alert(bot: BotUnderTest, browser: httpx.AsyncClient, ponto: PontoSimulator) -> str:
    """Ponto connected, then its grant revoked: the alert's incident id."""
    await connect_ponto(bot, browser)
    await break_ponto_grant(bot, ponto)
    await sync_and_send(bot)
    [alert] = alert_messages(bot.sim)
    return buttons(alert)["Reconnect"]


async def links_issued(bot: BotUnderTest) -> int:
    async with bot.runtime.core.database.read() as session:
        return int(await session.scalar(select(func.count()).select_from(ConnectLink)) or 0)


async def test_reconnect_from_the_alert_walks_the_consent_flow_to_a_working_connection(
    bot: BotUnderTest, browser: httpx.AsyncClient, ponto_sim: PontoSimulator
) -> None:
    incident = await reauth_alert(bot, browser, ponto_sim)

    answer = await click(bot, "alert_reconnect", incident)
    page = await browser.get(await consent(browser, button_url(answer)))
    assert "Ponto is connected" in page.text
    await wait_for_runs(bot, "ponto", 3)  # first connect, the failed one, the reconnect's
    [alert] = alert_messages(bot.sim)
    [reply] = await replies_arrive(bot, alert["ts"])

    async with bot.runtime.core.database.read() as session:
        [connection] = (await session.scalars(select(Connection))).all()
    [alert] = alert_messages(bot.sim)
    assert connection.state == "active"
    assert "Ponto works again" in text_of(reply)
    assert text_of(alert).startswith("Resolved: Ponto needs to be reconnected")


async def test_retry_now_answers_at_once_and_the_result_shows_in_the_alert(
    bot: BotUnderTest, yuki_sim: YukiSimulator, clock: ManualClock
) -> None:
    alert = await yuki_outage_alert(bot, yuki_sim, clock)
    requests = bot.runtime.reports.sync_requests
    requests.rules = replace(
        requests.rules, cooldown=dt.timedelta(0)
    )  # Sync now's cooldown is not tested here

    answer = await click(bot, "alert_retry", buttons(alert)["Retry now"], user_id="U0ADMIN")
    assert "Retrying now" in text_of(answer)
    await bot.runtime.reports.sync_requests.run_pending()
    await bot.runtime.digest.sender.drain()

    [alert] = alert_messages(bot.sim)
    assert alert["edits"] == 1 and "3 times" in text_of(alert)


async def test_a_member_without_access_gets_a_refusal_and_nothing_changes(
    bot: BotUnderTest, browser: httpx.AsyncClient, ponto_sim: PontoSimulator
) -> None:
    incident = await reauth_alert(bot, browser, ponto_sim)
    before = await links_issued(bot)

    reconnect = await click(bot, "alert_reconnect", incident, user_id="U0MEMBER")
    retry = await click(bot, "alert_retry", incident, user_id="U0MEMBER")

    assert "connect_link_opened" not in str(reconnect), "no consent link for a member"
    assert "admin" in text_of(reconnect).lower()
    assert "Only members with access" in text_of(retry)
    assert await links_issued(bot) == before
    assert len(alert_messages(bot.sim)) == 1


async def test_a_stale_button_on_a_resolved_alert_says_so(
    bot: BotUnderTest, yuki_sim: YukiSimulator, clock: ManualClock
) -> None:
    alert = await yuki_outage_alert(bot, yuki_sim, clock)
    stale = buttons(alert)["Retry now"]  # the button as it was before the recovery
    yuki_sim.faults.clear()
    await sync_and_send(bot)
    posts = len(bot.sim.calls_to("chat.postMessage"))

    answer = await click(bot, "alert_retry", stale)

    assert "resolved already" in text_of(answer) and "Yuki works again" in text_of(answer)
    assert len(bot.sim.calls_to("chat.postMessage")) == posts
    assert alert["ts"] == alert_messages(bot.sim)[0]["ts"]


async def test_reconnect_after_the_provider_was_disconnected_says_so(
    bot: BotUnderTest, browser: httpx.AsyncClient, ponto_sim: PontoSimulator
) -> None:
    incident = await reauth_alert(bot, browser, ponto_sim)
    await bot.slack.command("/cashbot", "disconnect ponto", user_id="U0ADMIN")
    before = await links_issued(bot)

    answer = await click(bot, "alert_reconnect", incident)

    assert "was disconnected after this alert" in text_of(answer)
    assert "/cashbot connect ponto" in text_of(answer)
    assert await links_issued(bot) == before


async def test_two_workers_post_each_step_once(
    database_url: str,
    slack_sim: SlackSimulator,
    ponto_sim: PontoSimulator,
    yuki_sim: YukiSimulator,
    clock: ManualClock,
) -> None:
    keys = (generate_key(),)
    async with (
        alert_bot(database_url, slack_sim, ponto_sim, yuki_sim, clock, keys=keys) as one,
        alert_bot(database_url, slack_sim, ponto_sim, yuki_sim, clock, keys=keys) as two,
    ):
        await alerts_here(one)
        await connect_yuki_books(one)
        workspace_id = await one.runtime.services.workspaces.workspace_id(one.slack.team_id)
        yuki_sim.fail("http_500", times=10_000)
        for worker in (one, two):  # each records a failure of the same outage
            clock.advance(dt.timedelta(minutes=31))
            await worker.runtime.services.sync.run_all("schedule")
        await asyncio.gather(
            *(
                w.runtime.incidents.service.failed(workspace_id, "yuki", "outage", "http_500")
                for w in (one, two)
            )
        )
        await asyncio.gather(one.runtime.digest.sender.drain(), two.runtime.digest.sender.drain())
        yuki_sim.faults.clear()
        await asyncio.gather(
            *(w.runtime.incidents.service.recovered(workspace_id, "yuki", ("outage",)) for w in (one, two))
        )
        await asyncio.gather(one.runtime.digest.sender.drain(), two.runtime.digest.sender.drain())

        [alert] = alert_messages(slack_sim)
        assert len(slack_sim.replies(ALERTS, alert["ts"])) == 1
        assert text_of(alert).startswith("Resolved: Yuki is not answering") and "4 times" in text_of(alert)
        posts = [c for c in slack_sim.calls_to("chat.postMessage") if c.params.get("channel") == ALERTS]
        assert len(posts) == 2, "the alert and its recovery, once each"


async def test_after_a_restart_the_same_incident_is_updated_not_posted_again(
    database_url: str,
    slack_sim: SlackSimulator,
    ponto_sim: PontoSimulator,
    yuki_sim: YukiSimulator,
    clock: ManualClock,
) -> None:
    keys = (generate_key(),)
    async with alert_bot(database_url, slack_sim, ponto_sim, yuki_sim, clock, keys=keys) as before:
        await alerts_here(before)
        await connect_yuki_books(before)
        yuki_sim.fail("http_500", times=10_000)
        for _ in range(2):
            clock.advance(dt.timedelta(minutes=31))
            await sync_and_send(before)
    async with alert_bot(database_url, slack_sim, ponto_sim, yuki_sim, clock, keys=keys) as after:
        clock.advance(dt.timedelta(minutes=60))
        await sync_and_send(after)

    [alert] = alert_messages(slack_sim)
    assert alert["edits"] == 1 and "3 times" in text_of(alert)


async def test_credentials_that_cannot_be_decrypted_are_an_alert_at_once(
    database_url: str,
    slack_sim: SlackSimulator,
    ponto_sim: PontoSimulator,
    yuki_sim: YukiSimulator,
    clock: ManualClock,
) -> None:
    async with alert_bot(database_url, slack_sim, ponto_sim, yuki_sim, clock) as first:
        await alerts_here(first)
        await connect_yuki_books(first)
    # Restarted with a new CASHBOT_ENCRYPTION_KEYS that lacks the old key.
    async with alert_bot(
        database_url, slack_sim, ponto_sim, yuki_sim, clock, keys=(generate_key(),)
    ) as after:
        await sync_and_send(after)

    [alert] = alert_messages(slack_sim)
    assert "cannot read the Yuki credentials" in text_of(alert)
    assert "CASHBOT_ENCRYPTION_KEYS" in text_of(alert)


@pytest.mark.parametrize("point", ["attempting", "answered"])
async def test_a_sender_killed_mid_alert_posts_it_once_and_its_updates_still_land(
    bot: BotUnderTest, yuki_sim: YukiSimulator, clock: ManualClock, point: str
) -> None:
    await connect_yuki_books(bot)
    yuki_sim.fail("http_500", times=10_000)
    for _ in range(2):
        clock.advance(dt.timedelta(minutes=31))
        await bot.runtime.services.sync.run_all("schedule")
    digest = bot.runtime.digest
    dying = Sender(digest.outbox, digest.clients, owner="dying", checkpoint=die_at(point))
    with pytest.raises(Killed):
        await dying.drain()
    clock.advance(OUTBOX_LEASE + dt.timedelta(seconds=1))  # the dead sender's lease lapses
    await digest.sender.drain()
    clock.advance(dt.timedelta(minutes=60))
    await sync_and_send(bot)  # a third failure: an edit anchored to the message found again

    [alert] = alert_messages(bot.sim)
    assert alert["edits"] == 1 and "3 times" in text_of(alert)
