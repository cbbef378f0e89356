"""/cashbot digest over HTTP: settings, who may change them, a preview that equals /cash and /overdue."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bot import formatting as fmt
from bot.clock import ManualClock
from bot.sandbox.blocks_text import blocks_to_text
from bot.sandbox.slack import SlackSimulator
from tests.features.digest_support import CHANNEL, digest_bot, seed, subscribe


def said(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    return blocks_to_text(body) + " " + str(body.get("text"))


@pytest.fixture
def clock() -> ManualClock:
    # The moment /cash and /overdue count from, until every service takes the one clock.
    return ManualClock(dt.datetime.now(dt.UTC))


async def test_no_argument_shows_the_setting_and_here_sets_it(
    database_url: str, slack_sim: SlackSimulator, clock: ManualClock
) -> None:
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        before = said(await bot.slack.command("/cashbot", "digest"))
        answer = await subscribe(bot, workspace_id)
        after = said(await bot.slack.command("/cashbot", "digest"))

    assert "off (Monday 08:00 (Europe/Brussels))" in before
    assert answer["response_type"] == "ephemeral"
    assert "posted in this channel" in str(answer)
    assert "on, every Monday 08:00 (Europe/Brussels)" in after and CHANNEL in after


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("digest time someday 08:00", "is not a day"),
        ("digest time tue 25:00", "is not a time"),
        ("digest time tue 7h30", "is not a time"),
        ("digest timezone Mars/Olympus_Mons", "is not a timezone"),
        ("digest timezone ../../etc/passwd", "is not a timezone"),
        ("digest weekly", "Usage"),
        ("digest here now", "Usage"),
    ],
)
async def test_bad_settings_keep_the_old_one(
    database_url: str, slack_sim: SlackSimulator, clock: ManualClock, text: str, complaint: str
) -> None:
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await subscribe(bot, workspace_id)
        await bot.slack.command("/cashbot", "digest time tue 07:30", channel_id=CHANNEL)
        answer = said(await bot.slack.command("/cashbot", text, channel_id=CHANNEL))
        setting = said(await bot.slack.command("/cashbot", "digest"))

    assert complaint in answer
    assert "on, every Tuesday 07:30 (Europe/Brussels)" in setting


async def test_timezone_changes_the_schedule(
    database_url: str, slack_sim: SlackSimulator, clock: ManualClock
) -> None:
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await subscribe(bot, workspace_id)
        answer = said(await bot.slack.command("/cashbot", "digest timezone Europe/Amsterdam"))

    assert "Monday 08:00 (Europe/Amsterdam)" in answer


async def test_only_managers_change_it_and_only_where_figures_are_allowed(
    database_url: str, slack_sim: SlackSimulator, clock: ManualClock
) -> None:
    async with digest_bot(database_url, slack_sim, clock) as bot:
        workspace_id = await seed(bot)
        await bot.runtime.services.access.set_public(workspace_id, CHANNEL, True)
        member = said(
            await bot.slack.command("/cashbot", "digest here", user_id="U0MEMBER", channel_id=CHANNEL)
        )
        elsewhere = said(await bot.slack.command("/cashbot", "digest here", channel_id="C0RANDOM"))
        setting = said(await bot.slack.command("/cashbot", "digest"))

    assert "Only workspace admins and managers" in member
    assert "does not allow figures in this channel" in elsewhere
    assert "/cashbot access public add #channel" in elsewhere
    assert "off (" in setting


async def test_preview_shows_the_figures_of_cash_and_overdue(
    database_url: str, slack_sim: SlackSimulator, clock: ManualClock
) -> None:
    async with digest_bot(database_url, slack_sim, clock) as bot:
        await seed(bot, connection_state="active")  # the preview itself syncs nothing
        preview = await bot.slack.command("/cashbot", "digest preview")
        cash = said(await bot.slack.command("/cash"))
        overdue = said(await bot.slack.command("/overdue"))
        refused = said(await bot.slack.command("/cashbot", "digest preview", user_id="U0MEMBER"))

    text = said(preview)
    assert preview.json()["response_type"] == "ephemeral"
    assert "Preview: only you see this" in text
    # U0ADMIN reads nl-BE: the same amounts, formatted the same way, as /cash and /overdue show.
    total = fmt.money(Decimal("20345.67"), "EUR", "nl-BE")
    week = fmt.signed_money(Decimal("669.50"), "EUR", "nl-BE")
    owed = fmt.money(Decimal("1500.00"), "EUR", "nl-BE")
    assert total in text and total in cash
    assert week in text and week in cash
    assert owed in text and owed in overdue
    assert fmt.money(Decimal("450.00"), "EUR", "nl-BE") in text  # receivables due within 7 days
    assert fmt.money(Decimal("700.00"), "EUR", "nl-BE") in text  # payables due within 7 days
    assert "Acme" not in refused and "20" not in refused.split("access")[0]
