"""The digest schedule on a moved clock: 08:00 local across both 2027 DST changes, late, missed."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

from bot import formatting as fmt
from bot.clock import ManualClock
from bot.sandbox.slack import SlackSimulator
from tests.features.digest_support import (
    CHANNEL,
    digest_bot,
    digests_in,
    runs,
    seed,
    subscribe,
    text_of,
    tick_and_send,
    utc,
)

BRUSSELS = zoneinfo.ZoneInfo("Europe/Brussels")


def steps(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every minute around 08:00 Brussels time, every 30 minutes otherwise (ticks cost time)."""
    moments, now = [], start
    while now < end:
        moments.append(now)
        local = now.astimezone(BRUSSELS)
        near = dt.time(7, 45) <= local.time() <= dt.time(8, 15)
        now += dt.timedelta(minutes=1 if near else 30)
    return moments


async def posted_at_across(
    bot_clock: ManualClock, bot: object, sim: SlackSimulator, start: dt.datetime, end: dt.datetime
) -> list[dt.datetime]:
    seen, moments = len(digests_in(sim)), []
    for moment in steps(start, end):
        bot_clock.set(moment)
        await tick_and_send(bot)  # type: ignore[arg-type]
        now_seen = len(digests_in(sim))
        if now_seen > seen:
            moments.extend([moment] * (now_seen - seen))
            seen = now_seen
    return moments


async def test_posted_once_at_eight_local_across_both_dst_changes(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    clock = ManualClock(utc(2027, 3, 19, 12, 0))
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await subscribe(bot, workspace_id)

        spring = await posted_at_across(clock, bot, slack_sim, utc(2027, 3, 21, 0, 0), utc(2027, 4, 6, 0, 0))
        clock.set(utc(2027, 10, 20, 12, 0))
        autumn = await posted_at_across(
            clock, bot, slack_sim, utc(2027, 10, 23, 0, 0), utc(2027, 11, 9, 0, 0)
        )

    # 08:00 in Brussels: 07:00 UTC in winter time, 06:00 UTC in summer time; once each Monday.
    assert spring == [utc(2027, 3, 22, 7, 0), utc(2027, 3, 29, 6, 0), utc(2027, 4, 5, 6, 0)]
    assert autumn == [utc(2027, 10, 25, 6, 0), utc(2027, 11, 1, 7, 0), utc(2027, 11, 8, 7, 0)]
    assert all(m.astimezone(BRUSSELS).strftime("%a %H:%M") == "Mon 08:00" for m in spring + autumn)


async def test_late_the_same_day_and_missed_after_it(database_url: str, slack_sim: SlackSimulator) -> None:
    clock = ManualClock(utc(2027, 6, 1, 12, 0))
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await subscribe(bot, workspace_id)
        # No worker ran on Monday 7 June at 08:00; one comes back at 11:30 the same day.
        clock.set(utc(2027, 6, 7, 9, 30))
        await tick_and_send(bot)
        # No worker at all on Monday 14 June; one comes back on Tuesday.
        clock.set(utc(2027, 6, 15, 7, 0))
        await tick_and_send(bot)
        await tick_and_send(bot)
        status = (await bot.slack.command("/cashbot", "status")).json()
        recorded = await runs(bot)

    posted = digests_in(slack_sim)
    assert len(posted) == 1
    assert "Sent late" in text_of(posted[0])
    # Formatted for whoever chose the channel (U0ADMIN reads nl-BE), as /cash formats for its reader.
    assert fmt.money(Decimal("20345.67"), "EUR", "nl-BE") in text_of(posted[0])
    assert [(r.period_key, r.state, r.late) for r in recorded] == [
        ("2027-W23", "enqueued", True),
        ("2027-W24", "missed", False),
    ]
    status_text = str(status)
    assert "2027-W24: ⚠ missed" in status_text
    assert "2027-W23: sent" in status_text and "(late)" in status_text


async def test_a_change_in_the_web_process_counts_at_the_next_tick(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    clock = ManualClock(utc(2027, 6, 1, 12, 0))  # a Tuesday
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await subscribe(bot, workspace_id)
        answer = (await bot.slack.command("/cashbot", "digest time wed 07:30", channel_id=CHANNEL)).json()
        clock.set(utc(2027, 6, 2, 5, 29))
        await tick_and_send(bot)
        before = len(digests_in(slack_sim))
        clock.set(utc(2027, 6, 2, 5, 30))  # 07:30 in Brussels (summer time)
        await tick_and_send(bot)

    assert "Wednesday 07:30 (Europe/Brussels)" in str(answer)
    assert before == 0
    assert len(digests_in(slack_sim)) == 1
