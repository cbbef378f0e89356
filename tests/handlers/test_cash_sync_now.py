""" "Sync now" through the bot's HTTP server: answered at once, one pending per workspace, cooldown, the
Yuki budget, then the worker's job runs it and replaces the message with fresh figures.

The syncer here stands in for Ponto's (which has its own tests against its simulator): it changes a
balance the way a sync would, so the follow-up can be checked against it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from bot.app.logs import NOISY_LIBRARIES
from bot.domain import Provider
from bot.providers.base import SyncRun
from bot.providers.yuki.call_budget import DailyCallBudget
from bot.sandbox.blocks_text import blocks_to_text
from bot.sandbox.slack import SlackSimulator
from storage.database import Database
from storage.models import BankAccount, SyncRequest
from tests.features import cash_data as data
from tests.harness import BotUnderTest, bot_settings, running_bot


class BalanceSyncer:
    """Sets every account of the workspace to the next balance, as a bank sync would."""

    def __init__(self, provider: Provider, database: Database, balances: list[Decimal]) -> None:
        self.provider = provider
        self._database = database
        self.balances = balances
        self.runs = 0

    async def sync(self, connection: object, run: SyncRun) -> None:
        self.runs += 1
        if self.provider is Provider.PONTO:
            async with self._database.write() as session:
                await session.execute(
                    update(BankAccount)
                    .where(BankAccount.workspace_id == run.workspace_id)
                    .values(current_balance=self.balances.pop(0), synced_at=self._database.clock.now())
                )
        run.fetched = run.written = 1


@pytest.fixture
async def syncing(database_url: str, slack_sim: SlackSimulator) -> AsyncIterator[tuple[BotUnderTest, dict]]:  # type: ignore[type-arg]
    syncers: dict[Provider, BalanceSyncer] = {}

    def plug(runtime: object) -> None:
        for provider in Provider:
            syncers[provider] = BalanceSyncer(provider, runtime.core.database, [Decimal("2500.00")])  # type: ignore[attr-defined]
            runtime.services.sync.register(syncers[provider])  # type: ignore[attr-defined]

    async with running_bot(bot_settings(database_url, slack_sim), slack_sim, customize=plug) as bot:
        workspace_id = await data.workspace(bot.runtime.core.database, installed_by="U0ADMIN")
        ponto = await data.connect(bot.runtime.core.database, workspace_id, Provider.PONTO)
        await data.add_account(
            bot.runtime.core.database,
            workspace_id,
            ponto,
            data.Account("KBC", "BE68539007547034", "EUR", Decimal(1000)),
        )
        yield bot, syncers


async def run_worker_job(bot: BotUnderTest) -> None:
    (job,) = [job for job in bot.runtime.jobs if job.name == "sync_requests"]
    await job.run()


async def test_click_queues_once_then_the_worker_replaces_the_message(
    syncing,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    bot, syncers = syncing
    caplog.set_level(logging.INFO)
    before = blocks_to_text((await bot.slack.command("/cash")).json())

    first = await bot.slack.block_action("cash_sync_now", "sync", user_id="U0ADMIN")
    second = await bot.slack.block_action("cash_sync_now", "sync", user_id="U0ADMIN")
    queued, pending = await bot.sim.wait_for_response(2)
    async with bot.runtime.core.database.read() as session:
        stored = (await session.execute(select(SyncRequest))).scalar_one()
    assert syncers[Provider.PONTO].runs == 0, "nothing is synced inside the click"
    await run_worker_job(bot)
    posts = await bot.sim.wait_for_response(3)
    after = blocks_to_text((await bot.slack.command("/cash")).json())

    assert first.status_code == second.status_code == 200
    assert "Syncing Ponto now" in queued.params["text"] and queued.params["replace_original"] is False
    assert "already on its way" in pending.params["text"]
    follow_up = posts[2]
    assert follow_up.method == queued.method, "the fresh figures go to the clicked message's response_url"
    assert follow_up.params["replace_original"] is True
    assert "€\xa02.500,00" in blocks_to_text(follow_up.params) and "Ponto ✓" in blocks_to_text(
        follow_up.params
    )
    assert "€\xa01.000,00" in before and "€\xa02.500,00" in after, "the sync dropped the cached figures"
    assert stored.response_url is not None and stored.response_url.startswith("f1:")
    assert "_response" not in stored.response_url
    ours = [
        r for r in caplog.records if not r.name.startswith(NOISY_LIBRARIES)
    ]  # the rest is kept at WARNING
    assert ours and not any("_response/" in r.getMessage() + str(r.__dict__) for r in ours)
    async with bot.runtime.core.database.read() as session:
        done = (await session.execute(select(SyncRequest))).scalar_one()
    assert (done.outcome, done.response_url) == ("success", None) and done.finished_at is not None


async def test_a_click_within_the_cooldown_is_refused_politely(syncing) -> None:  # type: ignore[no-untyped-def]
    bot, _syncers = syncing
    workspace_id = await bot.runtime.services.workspaces.workspace_id("T0CASHBOT")
    await bot.runtime.services.sync.run(workspace_id, Provider.PONTO, "schedule")

    await bot.slack.block_action("cash_sync_now", "sync", user_id="U0ADMIN")

    (answer,) = await bot.sim.wait_for_response(1)
    assert "you can sync again in 5 min" in answer.params["text"]
    async with bot.runtime.core.database.read() as session:
        assert (await session.execute(select(SyncRequest))).first() is None


async def test_a_nearly_spent_yuki_budget_syncs_only_the_banks(syncing) -> None:  # type: ignore[no-untyped-def]
    bot, syncers = syncing
    workspace_id = await bot.runtime.services.workspaces.workspace_id("T0CASHBOT")
    await data.connect(bot.runtime.core.database, workspace_id, Provider.YUKI, scope_key="domain:d1")
    # Spend today's Yuki calls down to 50 through the Yuki integration's own budget (800 a day).
    await DailyCallBudget(bot.runtime.core.database, 800, clock=bot.runtime.core.database.clock).charge(
        "domain:d1", 750
    )

    await bot.slack.block_action("cash_sync_now", "sync", user_id="U0ADMIN")
    (answer,) = await bot.sim.wait_for_response(1)
    await run_worker_job(bot)

    assert "Syncing Ponto now" in answer.params["text"] and "Yuki is skipped" in answer.params["text"]
    assert (syncers[Provider.PONTO].runs, syncers[Provider.YUKI].runs) == (1, 0)


async def test_members_without_access_cannot_sync(syncing) -> None:  # type: ignore[no-untyped-def]
    bot, _syncers = syncing

    await bot.slack.block_action("cash_sync_now", "sync", user_id="U0MEMBER")

    (answer,) = await bot.sim.wait_for_response(1)
    assert "don't have access" in answer.params["text"]
    async with bot.runtime.core.database.read() as session:
        assert (await session.execute(select(SyncRequest))).first() is None


async def test_a_request_nobody_ran_in_time_expires(syncing) -> None:  # type: ignore[no-untyped-def]
    bot, syncers = syncing
    await bot.slack.block_action("cash_sync_now", "sync", user_id="U0ADMIN")
    await bot.sim.wait_for_response(1)
    async with bot.runtime.core.database.write() as session:
        await session.execute(
            update(SyncRequest).values(created_at=bot.runtime.core.clock.now() - dt.timedelta(minutes=31))
        )

    await run_worker_job(bot)

    async with bot.runtime.core.database.read() as session:
        row = (await session.execute(select(SyncRequest))).scalar_one()
    assert (row.outcome, row.response_url, syncers[Provider.PONTO].runs) == ("expired", None, 0)


async def test_a_public_answer_is_not_refreshed_where_public_answers_are_no_longer_allowed(
    syncing,  # type: ignore[no-untyped-def]
) -> None:
    bot, _ = syncing

    await bot.slack.block_action("cash_sync_now", "sync", user_id="U0ADMIN", ephemeral=False)

    (answer,) = await bot.sim.wait_for_response(1)
    assert "no longer allows public" in blocks_to_text(answer.params)
    async with bot.runtime.core.database.read() as session:
        assert (await session.execute(select(SyncRequest))).scalars().all() == []
