"""The worker's Slack delivery: one digest per workspace and week whatever happens, refusals marked broken."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from bot.app.digest import OUTBOX_LEASE
from bot.app.worker import PeriodicJob, Worker
from bot.clock import ManualClock
from bot.delivery.sender import Sender
from bot.sandbox.slack import Failure, SlackSimulator
from storage.outbox import Claimed
from tests.features.digest_support import (
    CHANNEL,
    charts_in,
    digest_bot,
    digests_in,
    outbox_rows,
    parts,
    seed,
    subscribe,
    tick_and_send,
    utc,
)

MONDAY_EIGHT = utc(2027, 6, 7, 6, 0)  # 08:00 in Brussels


class Killed(BaseException):
    """The process dies here: nothing after this point runs, nothing catches it."""


def die_at(point: str):  # type: ignore[no-untyped-def]
    async def checkpoint(reached: str, row: Claimed) -> None:
        if reached == point and not row.kind.endswith(":file"):
            raise Killed(point)

    return checkpoint


async def test_two_workers_at_once_post_it_once(database_url: str, slack_sim: SlackSimulator) -> None:
    clock = ManualClock(utc(2027, 6, 1, 12, 0))
    async with (
        digest_bot(database_url, slack_sim, clock) as one,
        digest_bot(database_url, slack_sim, clock) as two,
    ):
        workspace_id = await seed(one)
        await subscribe(one, workspace_id)
        clock.set(MONDAY_EIGHT)
        for _ in range(3):
            await asyncio.gather(tick_and_send(one), tick_and_send(two))
        rows = await outbox_rows(one)

    assert len(digests_in(slack_sim)) == 1
    assert len(charts_in(slack_sim)) == 1
    assert [row.state for row in rows] == ["sent", "sent"]


async def test_two_real_schedulers_post_it_once(database_url: str, slack_sim: SlackSimulator) -> None:
    clock = ManualClock(utc(2027, 6, 1, 12, 0))
    async with (
        digest_bot(database_url, slack_sim, clock) as one,
        digest_bot(database_url, slack_sim, clock) as two,
    ):
        workspace_id = await seed(one)
        await subscribe(one, workspace_id)
        clock.set(MONDAY_EIGHT)
        workers = [
            Worker(
                bot.runtime.core.database,
                [
                    PeriodicJob(job.name, 0.2, job.run, run_at_start=True)
                    for job in bot.runtime.jobs
                    if job.name in ("digest_tick", "outbox")
                ],
                lease_ttl=dt.timedelta(seconds=2),
                renew_every=0.2,
            )
            for bot in (one, two)
        ]
        for worker in workers:
            await worker.start()
        try:
            async with asyncio.timeout(20):
                while len(charts_in(slack_sim)) < 1:
                    await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # time for a double post to show up, if there were one
        finally:
            for worker in workers:
                await worker.stop()

    assert len(digests_in(slack_sim)) == 1
    assert len(charts_in(slack_sim)) == 1


@pytest.mark.parametrize("point", ["attempting", "answered"])
async def test_a_worker_killed_mid_send_and_restarted_posts_it_once(
    database_url: str, slack_sim: SlackSimulator, point: str
) -> None:
    clock = ManualClock(utc(2027, 6, 1, 12, 0))
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await subscribe(bot, workspace_id)
        clock.set(MONDAY_EIGHT)
        await parts(bot).runner.tick()
        dying = Sender(parts(bot).outbox, parts(bot).clients, owner="dying", checkpoint=die_at(point))
        with pytest.raises(Killed):
            await dying.drain()
        posted_before_restart = len(digests_in(slack_sim))
        # The restarted worker finds the row leased to the dead one until the lease lapses.
        await tick_and_send(bot)
        assert len(digests_in(slack_sim)) == posted_before_restart
        clock.advance(OUTBOX_LEASE + dt.timedelta(seconds=1))
        await tick_and_send(bot)
        await tick_and_send(bot)
        rows = await outbox_rows(bot)

    assert posted_before_restart == (1 if point == "answered" else 0)
    assert len(digests_in(slack_sim)) == 1
    assert len(charts_in(slack_sim)) == 1
    assert [row.state for row in rows] == ["sent", "sent"]


async def test_a_429_storm_delays_it_and_nothing_is_lost_or_doubled(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    clock = ManualClock(utc(2027, 6, 1, 12, 0))
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await subscribe(bot, workspace_id)
        clock.set(MONDAY_EIGHT)
        # More 429s than the client waits out in one go: the row waits for Retry-After, then goes.
        slack_sim.fail("chat.postMessage", Failure(mode="ratelimited", times=6, retry_after=1))
        await tick_and_send(bot)
        after_storm = len(digests_in(slack_sim))
        waiting = [row.state for row in await outbox_rows(bot)]
        clock.advance(dt.timedelta(seconds=2))
        await tick_and_send(bot)
        await tick_and_send(bot)
        rows = await outbox_rows(bot)

    assert after_storm == 0
    assert waiting[0] in ("pending", "sending")
    assert len(digests_in(slack_sim)) == 1
    assert len(charts_in(slack_sim)) == 1
    assert [row.state for row in rows] == ["sent", "sent"]
    assert len(slack_sim.calls_to("chat.postMessage")) == 7


async def test_a_timeout_is_looked_up_before_sending_again(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    clock = ManualClock(utc(2027, 6, 1, 12, 0))
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await subscribe(bot, workspace_id)
        clock.set(MONDAY_EIGHT)
        slack_sim.fail("chat.postMessage", Failure(mode="http_500", times=1))
        await tick_and_send(bot)
        clock.advance(dt.timedelta(minutes=1))
        await tick_and_send(bot)
        rows = await outbox_rows(bot)

    assert len(slack_sim.calls_to("conversations.history")) == 1
    assert len(digests_in(slack_sim)) == 1
    assert [row.state for row in rows] == ["sent", "sent"]


@pytest.mark.parametrize(
    ("break_it", "reason"),
    [("revoke", "token_revoked"), ("archive", "is_archived"), ("remove_bot", "not_in_channel")],
)
async def test_a_refused_channel_marks_the_subscription_broken(
    database_url: str, slack_sim: SlackSimulator, break_it: str, reason: str
) -> None:
    clock = ManualClock(utc(2027, 6, 1, 12, 0))
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await subscribe(bot, workspace_id)
        if break_it == "revoke":
            slack_sim.revoke(bot.settings.slack_bot_token or "")
        else:
            getattr(slack_sim, break_it)(CHANNEL)
        clock.set(MONDAY_EIGHT)
        await tick_and_send(bot)
        calls_after_first_week = len(slack_sim.calls)
        clock.set(MONDAY_EIGHT + dt.timedelta(days=7))
        await tick_and_send(bot)
        calls_after_second_week = len(slack_sim.calls)
        slack_sim.revoked.clear()
        status = str((await bot.slack.command("/cashbot", "status")).json())
        setting = str((await bot.slack.command("/cashbot", "digest")).json())

    assert digests_in(slack_sim) == []
    assert calls_after_second_week == calls_after_first_week  # no retry, not the next week either
    assert f"Slack refused the channel ({reason})" in status
    assert reason in setting


async def test_an_install_without_the_file_scope_gets_the_message_not_a_broken_channel(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    clock = ManualClock(utc(2027, 6, 1, 12, 0))
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await subscribe(bot, workspace_id)
        clock.set(MONDAY_EIGHT)
        slack_sim.fail("files.getUploadURLExternal", Failure(mode="error", error="missing_scope"))
        await tick_and_send(bot)
        rows = await outbox_rows(bot)
        setting = str((await bot.slack.command("/cashbot", "digest")).json())

    assert len(digests_in(slack_sim)) == 1
    assert charts_in(slack_sim) == []
    assert [(row.kind, row.state) for row in rows] == [("digest", "sent"), ("digest:file", "failed")]
    assert "refused" not in setting
