"""EventReceipts: a retried Slack event has no second effect; receipts older than two days are pruned."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from bot.clock import ManualClock
from bot.features.events import EventReceipts
from storage.database import Database

START = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def receipts(database_url: str) -> AsyncIterator[tuple[EventReceipts, ManualClock]]:
    clock = ManualClock(START)
    database = Database(database_url, clock=clock)
    yield EventReceipts(database, clock=clock), clock
    await database.dispose()


async def test_a_remembered_event_is_handled_once_even_if_remembered_twice(
    receipts: tuple[EventReceipts, ManualClock],
) -> None:
    inbox, _ = receipts
    assert not await inbox.handled("Ev01")

    await inbox.remember("Ev01")
    await inbox.remember("Ev01")  # a concurrent duplicate: no error

    assert await inbox.handled("Ev01")


async def test_prune_forgets_receipts_older_than_two_days_and_keeps_the_rest(
    receipts: tuple[EventReceipts, ManualClock],
) -> None:
    inbox, clock = receipts
    await inbox.remember("Ev-old")  # received at 09:00 on day 0
    clock.advance(dt.timedelta(days=1, hours=23))
    await inbox.remember("Ev-recent")  # received at 08:00 on day 2
    clock.advance(dt.timedelta(hours=1, minutes=1))  # 09:01 on day 2: Ev-old is 2 days 1 minute old

    await inbox.prune()

    assert not await inbox.handled("Ev-old")
    assert await inbox.handled("Ev-recent")


async def test_prune_keeps_one_exactly_two_days_old(
    receipts: tuple[EventReceipts, ManualClock],
) -> None:
    inbox, clock = receipts
    await inbox.remember("Ev-edge")
    clock.advance(dt.timedelta(days=2))

    await inbox.prune()

    assert await inbox.handled("Ev-edge")
