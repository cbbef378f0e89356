"""The daily Yuki call budget: persisted, atomic across callers, reset at midnight Amsterdam."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from bot.clock import ManualClock
from bot.errors import RateLimited
from bot.providers.yuki.call_budget import DailyCallBudget
from storage.database import Database

AMSTERDAM_MIDNIGHT_UTC = dt.datetime(2026, 1, 15, 23, 0, tzinfo=dt.UTC)  # CET is UTC+1 in January


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(AMSTERDAM_MIDNIGHT_UTC - dt.timedelta(hours=2))


@pytest.fixture
async def database(database_url: str, clock: ManualClock) -> AsyncIterator[Database]:
    database = Database(database_url, clock=clock)
    yield database
    await database.dispose()


async def test_spends_down_to_the_limit_then_refuses(database: Database, clock: ManualClock) -> None:
    budget = DailyCallBudget(database, 3, clock=clock)

    left = [await budget.spend("domain:a") for _ in range(3)]
    with pytest.raises(RateLimited) as caught:
        await budget.spend("domain:a", "OutstandingDebtorItems")

    assert left == [2, 1, 0]
    assert caught.value.code == "budget_spent"
    assert caught.value.retry_after == pytest.approx(2 * 3600)
    assert await budget.remaining("domain:a") == 0
    assert await budget.remaining("domain:b") == 3, "each domain has its own budget"


async def test_concurrent_callers_never_exceed_the_limit(database: Database) -> None:
    budget = DailyCallBudget(database, 10, clock=database.clock)

    async def one() -> bool:
        try:
            await budget.spend("domain:busy")
        except RateLimited:
            return False
        return True

    outcomes = await asyncio.gather(*(one() for _ in range(30)))

    assert outcomes.count(True) == 10
    assert await budget.remaining("domain:busy") == 0


async def test_budget_resets_at_midnight_in_amsterdam_not_utc(database: Database, clock: ManualClock) -> None:
    clock.set(AMSTERDAM_MIDNIGHT_UTC - dt.timedelta(seconds=1))
    budget = DailyCallBudget(database, 1, clock=clock)
    await budget.spend("domain:a")
    with pytest.raises(RateLimited):
        await budget.spend("domain:a")

    clock.set(AMSTERDAM_MIDNIGHT_UTC + dt.timedelta(seconds=1))  # 00:00:01 in Amsterdam, 23:00 UTC

    assert await budget.remaining("domain:a") == 1
    assert await budget.spend("domain:a") == 0


async def test_exhaust_and_charge(database: Database) -> None:
    budget = DailyCallBudget(database, 800, clock=database.clock)

    await budget.charge("domain:a", 5)
    assert await budget.remaining("domain:a") == 795
    await budget.exhaust("domain:a")
    assert await budget.remaining("domain:a") == 0
    await budget.exhaust("domain:a")  # idempotent: never more than spent
    with pytest.raises(RateLimited):
        await budget.spend("domain:a")
