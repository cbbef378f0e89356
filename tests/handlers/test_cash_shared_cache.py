"""With REDIS_URL, web processes share the report cache: a sync committed by the worker is seen at once."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from decimal import Decimal

from redis import asyncio as aioredis
from sqlalchemy import update

from bot.app.wiring import build_runtime
from bot.domain import Provider
from bot.providers.base import SyncRun
from bot.sandbox.blocks_text import blocks_to_text
from bot.sandbox.slack import SlackSimulator
from storage.models import BankAccount
from tests.features import cash_data as data
from tests.harness import bot_settings, running_bot

REDIS_URL = "redis://127.0.0.1:6379/14"


class NewBalance:
    """Stands in for the Ponto sync: stores a new balance."""

    provider = Provider.PONTO

    def __init__(self, database: object) -> None:
        self.database = database

    async def sync(self, connection: object, run: SyncRun) -> None:
        async with self.database.write() as session:  # type: ignore[attr-defined]
            await session.execute(update(BankAccount).values(current_balance=Decimal("777.00")))


async def test_a_sync_in_the_worker_refreshes_every_web_process(
    database_url: str, slack_sim: SlackSimulator
) -> None:
    namespace = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    redis = aioredis.Redis.from_url(REDIS_URL)
    for key in await redis.keys(f"cashbot:{namespace}:*"):
        await redis.delete(key)  # a previous test on the same PostgreSQL database
    settings = bot_settings(database_url, slack_sim, redis_url=REDIS_URL)
    async with running_bot(settings, slack_sim) as web:
        workspace_id = await data.workspace(web.runtime.core.database, installed_by="U0ADMIN")
        ponto = await data.connect(web.runtime.core.database, workspace_id, Provider.PONTO)
        await data.add_account(
            web.runtime.core.database,
            workspace_id,
            ponto,
            data.Account("KBC", "BE68539007547034", "EUR", Decimal(100)),
        )
        before = blocks_to_text((await web.slack.command("/cash")).json())
        worker = build_runtime(replace(settings, public_url=web.url), web=False)
        worker.services.sync.register(NewBalance(worker.core.database))
        try:
            await worker.services.sync.run(workspace_id, Provider.PONTO, "schedule")
        finally:
            await worker.aclose()
        after = blocks_to_text((await web.slack.command("/cash")).json())
        cached = await redis.keys(f"cashbot:{namespace}:values:*")
    await redis.aclose()

    assert "€\xa0100,00" in before
    assert "€\xa0777,00" in after, "the worker's sync dropped the figures every web process shares"
    assert cached, "the figures live in Redis"
